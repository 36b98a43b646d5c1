"""Which local addresses the server announces as ICE host candidates.

`select()` is the pure rule (tested table by table); `interfaces()` reads the machine's
addresses (getifaddrs through ctypes).  The rule, as LiveKit documents its keys:

* `rtc.node_ip` set: that address only (nothing is enumerated);
* otherwise every address of every interface that is up, filtered by `rtc.interfaces`
  (`includes`: only these interface names; `excludes`: never these) and `rtc.ips`
  (`includes`: only addresses inside one of these CIDRs; `excludes`: never these);
* loopback, link-local (169.254/16, fe80::/10) and unspecified addresses are left out,
  loopback unless `rtc.enable_loopback_candidate` is set, or nothing else is left and the
  server runs in development mode (`--dev`, signalling on loopback), or the caller says the
  clients can only reach it on loopback;
* IPv6 only when the media sockets listen on IPv6 too (`want_v6`: bound to the wildcard, the
  workers add a [::] socket on the same port when the host can, `ipv6_usable`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Iterable, Sequence


@dataclass
class AddressFilter:
    interface_includes: list[str] = field(default_factory=list)
    interface_excludes: list[str] = field(default_factory=list)
    ip_includes: list[str] = field(default_factory=list)       # CIDRs
    ip_excludes: list[str] = field(default_factory=list)
    loopback: bool = False                                      # rtc.enable_loopback_candidate

    def networks(self) -> tuple[list, list]:
        """the CIDRs parsed; ValueError naming a bad one"""
        def parse(items: Iterable[str], key: str) -> list:
            out = []
            for c in items:
                try:
                    out.append(ipaddress.ip_network(str(c).strip(), strict=False))
                except ValueError:
                    raise ValueError(f"rtc.ips.{key}: {c!r} is not an address or CIDR") from None
            return out
        return parse(self.ip_includes, "includes"), parse(self.ip_excludes, "excludes")


def select(addrs: Sequence[tuple[str, str]], flt: AddressFilter, want_v6: bool = False,
           loopback_fallback: bool = False) -> list[str]:
    """the addresses to announce, in interface order, each once, from (interface name, address)
    pairs; `loopback_fallback`: announce loopback when nothing else is left"""
    inc, exc = flt.networks()
    out: list[str] = []
    loop: list[str] = []
    for name, text in addrs:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if ip.version == 6 and not want_v6:
            continue
        if flt.interface_includes and name not in flt.interface_includes:
            continue
        if name in flt.interface_excludes:
            continue
        if inc and not any(ip in n for n in inc if n.version == ip.version):
            continue
        if any(ip in n for n in exc if n.version == ip.version):
            continue
        if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
            continue
        s = str(ip)
        if ip.is_loopback:
            if s not in loop:
                loop.append(s)
            continue
        if s not in out:
            out.append(s)
    if flt.loopback or (not out and loopback_fallback):
        out += [a for a in loop if a not in out]
    return out


class _Sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 26)]


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [("next", ctypes.POINTER(_Ifaddrs)), ("name", ctypes.c_char_p), ("flags", ctypes.c_uint),
                     ("addr", ctypes.POINTER(_Sockaddr)), ("netmask", ctypes.POINTER(_Sockaddr)),
                     ("ifu", ctypes.c_void_p), ("data", ctypes.c_void_p)]

IFF_UP = 0x1


def interfaces() -> list[tuple[str, str]]:
    """(interface name, address) of every IPv4/IPv6 address of an interface that is up"""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "getifaddrs failed")
    out: list[tuple[str, str]] = []
    try:
        p = head
        while p:
            ifa = p.contents
            p = ifa.next
            if not ifa.addr or not ifa.flags & IFF_UP:
                continue
            fam = ifa.addr.contents.family
            raw = bytes(ifa.addr.contents.data)
            if fam == socket.AF_INET:       # sin_port (2), sin_addr (4)
                out.append((ifa.name.decode(), socket.inet_ntop(socket.AF_INET, raw[2:6])))
            elif fam == socket.AF_INET6:    # sin6_port (2), flowinfo (4), sin6_addr (16)
                out.append((ifa.name.decode(), socket.inet_ntop(socket.AF_INET6, raw[6:22])))
    finally:
        libc.freeifaddrs(head)
    return out


def ipv6_usable() -> bool:
    """this host (network namespace) can bind an IPv6 UDP socket"""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("::", 0))
        return True
    except OSError:
        return False


def announced(node_ip: str, bind: Sequence[str], flt: AddressFilter, dev: bool = False,
              want_v6: bool = False) -> list[str]:
    """what the server announces: node_ip if set; else, when signalling listens on loopback
    only, loopback (a client that reached it came over loopback); else the interfaces' addresses
    (when none is usable: loopback in --dev, else an empty list the caller refuses)"""
    if node_ip:
        return [node_ip]
    specific = [b for b in bind if b not in ("0.0.0.0", "::", "")]
    if specific and len(specific) == len(bind):
        if all(ipaddress.ip_address(b).is_loopback for b in specific):
            return [b for b in specific if ":" not in b or want_v6] or ["127.0.0.1"]
        return select([("", b) for b in specific], AddressFilter(loopback=flt.loopback), want_v6)
    return select(interfaces(), flt, want_v6, loopback_fallback=dev)
