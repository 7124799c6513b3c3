"""Shared helpers of the integration tests (test_services.py, test_writer_admin.py,
test_writer_crash.py): bitdex processes and code generated from proto/.

  - BitdexProcess starts a bitdex binary (through `setpriv --pdeathsig KILL` when present, so the
    kernel kills it if the test dies hard), collects its merged stdout+stderr, waits for the
    `msg=listening ... port=N` log line and parses the port, and terminates or kills it. Every
    process not yet reaped is killed at exit; SIGTERM and SIGHUP (ctest's timeout, a closed
    terminal) unwind the test so that this happens (importing the module installs both).
  - generate_messages() compiles proto/bitdex/v1 with the system protoc (--python_out) into a
    directory and imports the modules; descriptor_set() compiles protos into a FileDescriptorSet.

The scripts import it from their own directory (they put it first on sys.path); it needs only
the standard library (descriptor_set() needs python3-protobuf).
"""

import atexit
import glob
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

# Slower builds (ASan+UBSan, valgrind) get proportionally more time for start-up waits.
SLOW = float(os.environ.get("BITDEX_TEST_TIMEOUT_SCALE", "1"))
START_TIMEOUT = 30 * SLOW

LISTEN_RE = re.compile(r'\bmsg="?listening"?(?:\s|$)')
PORT_RE = re.compile(r"\bport=(\d+)\b")


# --- cleanup ---------------------------------------------------------------------------------

_LIVE = []  # every BitdexProcess not yet reaped; killed at exit whatever happens


def kill_all():
    for p in list(_LIVE):
        p.kill()


atexit.register(kill_all)


def _on_signal(signum, frame):
    # ctest's timeout (or a hang-up) must not leave servers behind: unwind so atexit runs.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def clean_env(extra=None):
    """os.environ without BITDEX_* (so a developer's settings do not leak in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITDEX_")}
    env.update(extra or {})
    return env


def pdeathsig_prefix():
    # setpriv execs, so the pid is the server's own.
    return ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


# --- processes -------------------------------------------------------------------------------

class BitdexProcess:
    """One bitdex process. Collects its log (stdout and stderr) and finds its port.

    argv: the binary and its arguments. env: with strip_env (the default), extra variables on
    top of the environment without BITDEX_*; without it, the whole environment (None: inherit).
    """

    def __init__(self, argv, name=None, env=None, strip_env=True):
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.lines = []
        self.port = None
        self._listening = threading.Event()
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            pdeathsig_prefix() + self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=clean_env(env) if strip_env else env,
        )
        _LIVE.append(self)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                self.lines.append(line)
            if self.port is None and LISTEN_RE.search(line):
                m = PORT_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._listening.set()
        self._listening.set()  # EOF: the process is gone; wake waiters

    def log(self, last=60):
        with self._lock:
            lines = self.lines[-last:]
        return "\n".join("    [%s] %s" % (self.name, line) for line in lines)

    def text(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_listening(self, timeout=START_TIMEOUT):
        self._listening.wait(timeout)
        if self.port is None:
            try:  # its output ended: it is exiting; report how
                rc = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            raise AssertionError(
                "%s did not log msg=listening port=N within %.0f s (exit status %s); argv: %s\n%s"
                % (self.name, timeout, rc, " ".join(self.argv), self.log())
            )
        return self.port

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def terminate(self, timeout):
        """SIGTERM, then wait up to `timeout` s. Returns (exit status or None, seconds taken)."""
        t0 = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def wait_exit(self, timeout):
        """Waits for the exit and the end of its output; the exit status, or None."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(5)
        return rc

    def kill(self, timeout=10):
        """SIGKILL (if still running), reap, and stop collecting. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self in _LIVE:
            _LIVE.remove(self)


# --- code generation -------------------------------------------------------------------------

def generate_messages(proto_dir, out_dir):
    """Compiles proto_dir/bitdex/v1/*.proto with the system protoc --python_out into out_dir
    (created if needed), puts out_dir first on sys.path and imports every generated module.
    Returns a namespace with one attribute per file: .schema, .types, .writer, ..."""
    protoc = shutil.which("protoc")
    if not protoc:
        raise RuntimeError("protoc not found (apt-get install protobuf-compiler)")
    proto_dir = os.path.abspath(proto_dir)
    files = sorted(glob.glob(os.path.join(proto_dir, "bitdex", "v1", "*.proto")))
    if not files:
        raise RuntimeError("no .proto files under %s" % os.path.join(proto_dir, "bitdex", "v1"))
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([protoc, "-I" + proto_dir, "--python_out=" + out_dir] + files, check=True)
    sys.path.insert(0, out_dir)
    ns = types.SimpleNamespace()
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        setattr(ns, stem, importlib.import_module("bitdex.v1.%s_pb2" % stem))
    return ns


def descriptor_set(include_dirs, files, out):
    """Compiles `files` into a FileDescriptorSet (with imports) at `out` and returns it parsed.
    Uses the system protoc, else grpc_tools' embedded one (python3-grpc-tools)."""
    from google.protobuf import descriptor_pb2

    protoc = shutil.which("protoc")
    incs = ["-I" + d for d in include_dirs]
    if os.path.isdir("/usr/include/google/protobuf"):
        incs.append("-I/usr/include")  # well-known types, when libprotobuf-dev is installed
    args = incs + ["--include_imports", "--descriptor_set_out=" + out] + files
    if protoc:
        subprocess.run([protoc] + args, check=True)
    else:
        from grpc_tools import protoc as gprotoc

        if gprotoc.main(["protoc"] + args) != 0:
            raise RuntimeError("grpc_tools.protoc failed on %s" % files)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return fds
