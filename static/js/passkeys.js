// Passkeys (WebAuthn) for Tenantdesk: registration on /account, sign-in on /login and the
// second-factor and confirmation pages. A static file because the CSP allows no inline script.
// Buttons carry data-options-url / data-finish-url; errors go to [data-passkey-error].
(function () {
  "use strict";

  function b64urlToBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function bufferToB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) { return ""; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": csrfToken() },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var message = (data.error && data.error.message) || "The passkey step failed.";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function showError(button, message) {
    var box = button.parentElement.parentElement.querySelector("[data-passkey-error]") ||
              document.querySelector("[data-passkey-error]");
    if (box) { box.textContent = message; box.hidden = false; }
    button.disabled = false;
  }

  // Go where the server says; to this very page (only the #fragment differs) by reloading,
  // so its new state and message show.
  function go(url) {
    var target = new URL(url, window.location.href);
    var here = window.location;
    if (target.pathname === here.pathname && target.search === here.search) {
      here.hash = target.hash;
      here.reload();
    } else {
      here.assign(target.href);
    }
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: bufferToB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ?
        credential.getClientExtensionResults() : {},
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: bufferToB64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = bufferToB64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = bufferToB64url(response.authenticatorData);
      json.response.signature = bufferToB64url(response.signature);
      json.response.userHandle = response.userHandle ? bufferToB64url(response.userHandle) : null;
    }
    return json;
  }

  function register(button) {
    button.disabled = true;
    post(button.dataset.optionsUrl).then(function (options) {
      options.challenge = b64urlToBuffer(options.challenge);
      options.user.id = b64urlToBuffer(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
      return navigator.credentials.create({ publicKey: options });
    }).then(function (credential) {
      var nameInput = document.getElementById("passkey-name");
      return post(button.dataset.finishUrl, {
        credential: credentialJSON(credential), name: nameInput ? nameInput.value : ""
      });
    }).then(function (result) {
      go(result.redirect);
    }).catch(function (error) { showError(button, error.message || String(error)); });
  }

  function signIn(button) {
    button.disabled = true;
    post(button.dataset.optionsUrl).then(function (options) {
      options.challenge = b64urlToBuffer(options.challenge);
      (options.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuffer(c.id); });
      return navigator.credentials.get({ publicKey: options });
    }).then(function (credential) {
      return post(button.dataset.finishUrl, credentialJSON(credential));
    }).then(function (result) {
      go(result.redirect);
    }).catch(function (error) { showError(button, error.message || String(error)); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    document.querySelectorAll("[data-passkey-register], [data-passkey-login]")
      .forEach(function (button) {
        if (!supported) {
          button.disabled = true;
          button.title = "This browser does not support passkeys.";
          return;
        }
        button.addEventListener("click", function () {
          if (button.hasAttribute("data-passkey-register")) { register(button); }
          else { signIn(button); }
        });
        // Rendered disabled: a click before this handler exists would do nothing.
        button.disabled = false;
      });
  });
})();
