"""An authoritative DNS stub on 127.0.0.1 (UDP) built on dnspython's message API: TXT answers
from a dict, NXDOMAIN otherwise; it can stay silent or answer SERVFAIL. Test-only."""

from __future__ import annotations

import socket
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT


class StubDNS:
    def __init__(self) -> None:
        self.txt: dict[dns.name.Name, list[list[bytes]]] = {}
        self.mode = "answer"  # or "silent", "servfail"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def set_txt(self, name: str, *values: str) -> None:
        self.txt[dns.name.from_text(name)] = [[v.encode()] for v in values]

    def __enter__(self) -> StubDNS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
                query = dns.message.from_wire(data)
            except (TimeoutError, dns.exception.DNSException):
                continue
            reply = self._answer(query)
            if reply is not None:
                self.sock.sendto(reply.to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message | None:
        if self.mode == "silent":
            return None
        question = query.question[0]
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if self.mode == "servfail":
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif question.name not in self.txt:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            rdatas = [TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
                      for strings in self.txt[question.name]]
            reply.answer.append(dns.rrset.from_rdata_list(question.name, 60, rdatas))
        return reply
