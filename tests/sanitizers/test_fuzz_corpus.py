"""The data-plane fuzz corpus under sanitizers, on every test run.

1. Each harness in csrc/fuzz/ is compiled with standalone_main.c by gcc with
   AddressSanitizer + UndefinedBehaviorSanitizer (no recovery) and replays
   its committed corpus (seeds and crash reproducers).
2. A deterministic malformed-input sweep: every truncation of every corpus
   file and a fixed number of seeded random byte mutations of it.
3. A short real libFuzzer run of every target (clang -fsanitize=fuzzer);
   clang is required: scripts/test installs it.

Every run must exit 0 and print nothing from a sanitizer or a harness check.
Budget: well under 90 s on two cores.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "csrc", "fuzz")
INCLUDE = os.path.join(ROOT, "csrc", "include")
CSRC = os.path.join(ROOT, "csrc")
CORPUS = os.path.join(FUZZ, "corpus")
TARGETS = ("rtp", "rtcp", "stun", "demux", "ring", "loadtest", "header_ext_rewrite", "keyframe", "tcc", "tcc_feedback", "tcc_seq_stamp", "rtcp_build", "rtx", "red", "nack_generator", "rtp_padding", "tcp_framing", "svc_layers")
MTU = 1500

MUTATIONS_PER_FILE = 256         # seeded random mutations of each corpus file
LIBFUZZER_SECONDS = 10           # per target; two targets run at a time
JOBS = 2

SANITIZER_OUTPUT = re.compile(
    r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
    r"fuzz: check failed|invariant failed|libFuzzer: deadly signal|ERROR: libFuzzer"
)
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=66",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
COMMON_CFLAGS = ["-std=gnu11", "-g", "-O1", "-fno-omit-frame-pointer", "-D_GNU_SOURCE", f"-I{INCLUDE}", f"-I{CSRC}",
                 "-Wall", "-Wextra", "-Wno-unused-parameter"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(SAN_ENV)
    return env


def _compile(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"compile failed: {' '.join(cmd)}\n{r.stderr}"


def _parallel(fn, items):
    with ThreadPoolExecutor(max_workers=JOBS) as ex:
        return list(ex.map(fn, items))


def _corpus_files(target: str) -> list[str]:
    d = os.path.join(CORPUS, target)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))


def _replay(binary: str, paths: list[str]) -> int:
    """Replay files/directories; returns how many inputs ran."""
    r = subprocess.run([binary, "-v", *paths], capture_output=True, text=True, timeout=120, env=_env())
    bad = SANITIZER_OUTPUT.search(r.stderr)
    if r.returncode != 0 or bad:
        ran = re.findall(r"^replay: (\S+) \(\d+ bytes\)$", r.stderr, re.M)
        last = ran[-1] if ran else "?"
        pytest.fail(f"{os.path.basename(binary)} failed (exit {r.returncode}) on input {last}:\n"
                    f"{r.stderr[-6000:]}")
    m = re.search(r"^replay: (\d+) inputs$", r.stderr, re.M)
    assert m, r.stderr[-2000:]
    return int(m.group(1))


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="sfu-fuzz-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def replayers(workdir) -> dict[str, str]:
    """target -> gcc ASan+UBSan replay binary."""
    if not shutil.which("gcc"):
        pytest.fail("gcc not found: run scripts/test (it installs the build dependencies)")

    def build(t: str) -> str:
        out = os.path.join(workdir, f"replay_{t}")
        _compile(["gcc", *COMMON_CFLAGS, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  os.path.join(FUZZ, f"fuzz_{t}.c"), os.path.join(FUZZ, "standalone_main.c"), "-o", out])
        return out

    return dict(zip(TARGETS, _parallel(build, TARGETS)))


def test_corpus_present():
    for t in TARGETS:
        files = _corpus_files(t)
        assert any(os.path.basename(f).startswith("seed-") for f in files), f"no seeds for {t}"
        for f in files:
            assert os.path.getsize(f) <= MTU, f


def test_committed_seeds_are_what_the_generator_writes(tmp_path):
    """csrc/fuzz/make_seeds.py runs, and its output is the committed seed-* files"""
    subprocess.run(["python3", os.path.join(FUZZ, "make_seeds.py"), str(tmp_path)], check=True,
                   capture_output=True)
    for t in TARGETS:
        committed = {os.path.basename(f): open(f, "rb").read() for f in _corpus_files(t)
                     if os.path.basename(f).startswith("seed-")}
        fresh_dir = tmp_path / t
        fresh = {f.name: f.read_bytes() for f in fresh_dir.iterdir()} if fresh_dir.exists() else {}
        assert committed == fresh, f"{t}: regenerate with python3 csrc/fuzz/make_seeds.py"


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replay(replayers, target):
    assert _replay(replayers[target], [os.path.join(CORPUS, target)]) == len(_corpus_files(target))


def _sweep_inputs(path: str) -> list[bytes]:
    data = open(path, "rb").read()
    out = [data[:n] for n in range(len(data) + 1)]
    rng = random.Random(hashlib.sha1(os.path.basename(path).encode() + data).digest())
    for _ in range(MUTATIONS_PER_FILE):
        m = bytearray(data or b"\x00")
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            i = rng.randrange(len(m))
            if rng.random() < 0.5:
                m[i] ^= 1 << rng.randrange(8)
            else:
                m[i] = rng.choice((0x00, 0xFF, 0x80, 0x7F, 0x20, 0x10, rng.randrange(256)))
        if rng.random() < 0.2:                        # and sometimes cut it too
            del m[rng.randrange(len(m) + 1):]
        out.append(bytes(m))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_malformed_sweep(replayers, workdir, target):
    d = os.path.join(workdir, f"sweep_{target}")
    os.makedirs(d, exist_ok=True)
    n = 0
    for path in _corpus_files(target):
        for i, blob in enumerate(_sweep_inputs(path)):
            with open(os.path.join(d, f"{os.path.basename(path)}.{i:05d}"), "wb") as f:
                f.write(blob)
            n += 1
    assert n > 100
    assert _replay(replayers[target], [d]) == n


def _clang_libfuzzer() -> str | None:
    clang = shutil.which("clang")
    if not clang:
        return None
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "p.c")
        with open(src, "w") as f:
            f.write("int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n")
        r = subprocess.run([clang, "-fsanitize=fuzzer", src, "-o", os.path.join(d, "p")],
                           capture_output=True, timeout=60)
    return clang if r.returncode == 0 else None


def test_libfuzzer_short_run(workdir):
    clang = _clang_libfuzzer()
    if clang is None:
        pytest.fail("clang with libFuzzer (clang, libclang-rt-14-dev) is not installed: "
                    "run scripts/test, which installs it")

    def build(t: str) -> str:
        out = os.path.join(workdir, f"libfuzzer_{t}")
        _compile([clang, *COMMON_CFLAGS, "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                  os.path.join(FUZZ, f"fuzz_{t}.c"), "-o", out])
        return out

    binaries = dict(zip(TARGETS, _parallel(build, TARGETS)))

    def run(t: str) -> tuple[str, int, str, list[str]]:
        work = os.path.join(workdir, f"lf_corpus_{t}")     # new inputs land here, not in the repo
        art = os.path.join(workdir, f"lf_artifacts_{t}") + os.sep
        os.makedirs(work, exist_ok=True)
        os.makedirs(art, exist_ok=True)
        r = subprocess.run(
            [binaries[t], f"-max_total_time={LIBFUZZER_SECONDS}", f"-max_len={MTU}", "-timeout=10",
             "-rss_limit_mb=2048", "-seed=20240611", "-print_final_stats=1", f"-artifact_prefix={art}",
             work, os.path.join(CORPUS, t)],
            capture_output=True, text=True, timeout=LIBFUZZER_SECONDS + 60, env=_env())
        return t, r.returncode, r.stderr, sorted(os.listdir(art))

    failures = []
    for t, rc, err, artifacts in _parallel(run, TARGETS):
        execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", err)
        if rc != 0 or artifacts or not execs:
            failures.append(f"{t}: exit {rc}, artifacts {artifacts} (reproduce and keep with "
                            f"scripts/run_fuzz.sh {t})\n{err[-4000:]}")
    assert not failures, "\n\n".join(failures)
