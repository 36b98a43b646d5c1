"""The only cffi builder: csrc/include/sfu_api.h -> sfu._native (API mode).

`pip install .` runs this through setuptools (setup.py's cffi_modules);
`python build_ext.py` builds the extension in place for development.
"""

import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")
API_HEADER = os.path.join(CSRC, "include", "sfu_api.h")


def _cdef_source() -> str:
    """sfu_api.h minus preprocessor lines cffi cannot parse.

    Integer `#define`s are kept (cffi exposes them as constants); include
    guards and #includes are dropped.
    """
    out = []
    for line in open(API_HEADER):
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


def _sources() -> list[str]:
    out = []
    for d in ("util", "rtp", "rtc", "loop", "tools"):
        for root, _dirs, files in os.walk(os.path.join(CSRC, d)):
            out += [os.path.join(root, f) for f in files if f.endswith(".c")]
    return sorted(_path(f) for f in out)


# SFU_SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer build (tests
# run it with LD_PRELOAD of libasan; see tests/test_sanitized.py)
_SANITIZE = os.environ.get("SFU_SANITIZE") == "1"
_CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing", "-D_GNU_SOURCE"]
if _SANITIZE:
    _CFLAGS += ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined"]
else:
    _CFLAGS += ["-O2"]

ffibuilder = FFI()
ffibuilder.cdef(_cdef_source())
ffibuilder.set_source(
    "sfu._native",
    '#include "sfu_api.h"\n',
    sources=_sources(),
    include_dirs=[_path(os.path.join(CSRC, "include")), _path(CSRC)],
    extra_compile_args=_CFLAGS,
    extra_link_args=["-fsanitize=address,undefined"] if _SANITIZE else [],
    libraries=["pthread"],
)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi"), verbose=False)
    # compile() writes the extension next to the tmpdir's package path; move it into sfu/
    import glob
    import shutil

    for so in glob.glob(os.path.join(HERE, "build", "cffi", "sfu", "_native*.so")):
        shutil.copy2(so, os.path.join(HERE, "sfu", os.path.basename(so)))
        print("built", os.path.join("sfu", os.path.basename(so)))
