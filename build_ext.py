"""The cffi builders (API mode) of the product's three extension modules.

* `sfu._native` -- the production data plane: csrc/util, csrc/rtp, csrc/rtc,
  csrc/loop; API in sfu_api.h (wrapped by sfu/native.py).
* `sfu._units` -- test-facing: the pure decision units of csrc/rtc (rewrite
  offsets, resend policy, key-frame throttle, report blocks, transport-cc
  feedback ...) and the packet layer, compiled from the same sources; API in
  sfu_units.h.  Nothing in the product imports it.
* `sfu.loadtest._engine` -- the load-test packet engine and the benchmarks'
  generator/sink: csrc/tools with the packet layer and the SRTP glue; API in
  sfu_loadtest.h (wrapped by sfu/loadtest/engine.py).

`pip install .` runs them through setuptools (setup.py's cffi_modules);
`python build_ext.py` builds all three in place for development.
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")
INCLUDE = os.path.join(CSRC, "include")


def _cdef_source(headers: list[str]) -> str:
    """the headers, in order, minus preprocessor lines cffi cannot parse.

    Integer `#define`s are kept (cffi exposes them as constants); include
    guards and #includes are dropped.
    """
    out = []
    for h in headers:
        for line in open(os.path.join(INCLUDE, h)):
            s = line.strip()
            if s.startswith("#"):
                if re.match(r"#define\s+\w+\s+-?\d+\b", s):
                    out.append(re.sub(r"/\*.*\*/", "", line))
                continue
            out.append(line)
    return "".join(out)


# setuptools wants paths relative to the project; an in-place build
# (`python build_ext.py`) compiles from a temporary directory, so absolute.
_ABSOLUTE = __name__ == "__main__"


def _path(p: str) -> str:
    return p if _ABSOLUTE else os.path.relpath(p, HERE)


def _tree(*dirs: str) -> list[str]:
    """every .c file under csrc/<dir> (recursively)"""
    out = []
    for d in dirs:
        for root, _dirs, files in os.walk(os.path.join(CSRC, d)):
            out += [os.path.join(root, f) for f in files if f.endswith(".c")]
    return out


def _files(*names: str) -> list[str]:
    return [os.path.join(CSRC, n) for n in names]


# the packet layer every module carries: parsers, RTCP builders, drop names
PACKET = _tree("rtp") + _files("util/common.c", "util/drop_reason.c")
# the pure decision units of csrc/rtc (no clock, no I/O; `now` is an argument)
UNITS = _files("rtc/seq_manager.c", "rtc/svc_layer_selector.c", "rtc/keyframe_request.c", "rtc/header_ext_rewrite.c",
               "rtc/rtp_stream_recv.c", "rtc/rtp_retransmission_buffer.c", "rtc/tcc_server.c",
               "rtc/producer_activity.c", "rtc/tcc_send_history.c", "rtc/nack_generator.c",
               "rtc/bwe_delay.c", "rtc/bwe_loss.c", "rtc/send_side_bwe.c", "rtc/probe_controller.c",
               "rtc/pacer.c", "loop/tcp_framing.c")

MODULES = {
    # name: (cffi headers in cdef order, sources)
    "sfu._native": (["sfu_types.h", "sfu_packet.h", "sfu_srtp.h", "sfu_bwe.h", "sfu_api.h"],
                    PACKET + _tree("util", "rtc", "loop")),
    "sfu._units": (["sfu_types.h", "sfu_packet.h", "sfu_units.h", "sfu_bwe.h", "sfu_tcp.h"], PACKET + UNITS),
    "sfu.loadtest._engine": (["sfu_types.h", "sfu_packet.h", "sfu_srtp.h", "sfu_loadtest.h"],
                             PACKET + _tree("tools") + _files("util/addr.c", "util/srtp.c")),
}

# SFU_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer build (tests
# run it with LD_PRELOAD of libasan; see tests/test_sanitized.py)
_SANITIZE = os.environ.get("SFU_SANITIZE") == "1"
_CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing", "-D_GNU_SOURCE"]
if _SANITIZE:
    _CFLAGS += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined"]
else:
    _CFLAGS += ["-O2"]


def _builder(name: str) -> FFI:
    headers, sources = MODULES[name]
    b = FFI()
    b.cdef(_cdef_source(headers))
    b.set_source(
        name,
        "".join(f'#include "{h}"\n' for h in headers),
        sources=sorted(set(_path(s) for s in sources)),
        include_dirs=[_path(INCLUDE), _path(CSRC)],
        extra_compile_args=_CFLAGS,
        extra_link_args=["-fsanitize=address,undefined"] if _SANITIZE else [],
        libraries=["pthread", "m"],
    )
    return b


ffibuilder = _builder("sfu._native")
units_ffibuilder = _builder("sfu._units")
engine_ffibuilder = _builder("sfu.loadtest._engine")

if __name__ == "__main__":
    import glob
    import shutil

    os.chdir(HERE)
    tmp = os.path.join(HERE, "build", "cffi")
    for name, b in (("sfu._native", ffibuilder), ("sfu._units", units_ffibuilder),
                    ("sfu.loadtest._engine", engine_ffibuilder)):
        b.compile(tmpdir=tmp, verbose=False)
        # compile() writes the extension under the tmpdir's package path; copy it into the tree
        pkg, mod = name.rsplit(".", 1)
        rel = pkg.replace(".", os.sep)
        for so in glob.glob(os.path.join(tmp, rel, mod + "*.so")):
            shutil.copy2(so, os.path.join(HERE, rel, os.path.basename(so)))
            print("built", os.path.join(rel, os.path.basename(so)))
