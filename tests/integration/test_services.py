#!/usr/bin/python3
"""Process-level tests of bitdex-writer and bitdex-reader, through a real gRPC client.

Starts the real binaries on 127.0.0.1:0 (the port is read from the `msg=listening ... port=N`
log line), each with its own temporary data directory, and checks what operators and
Kubernetes rely on:

  - grpc.health.v1.Health: "" and the service name SERVING, an unknown name NOT_FOUND; a second
    writer on the same data directory is a standby (NOT_SERVING) and takes over when the active
    one is SIGTERMed (the Kubernetes readiness probe depends on exactly this);
  - server reflection v1 and v1alpha: list_services, file_containing_symbol, file_by_filename,
    NOT_FOUND errors; a client that knows nothing but the address builds a DescriptorPool from
    the reflected files and calls a method dynamically (the grpcurl / buf curl path);
  - unknown methods end with UNIMPLEMENTED at once (not a hang, not a reset stream);
  - SIGTERM while calls and a Watch stream are in flight: every call ends with a status, the
    process exits 0 within its grace period;
  - usage errors exit 2.

Run it with Debian's grpcio, which lives under /usr/bin/python3 (the python3 first on PATH may
be another interpreter without grpc):

  /usr/bin/python3 tests/integration/test_services.py --writer build/services/writer/bitdex-writer \
      --reader build/services/reader/bitdex-reader --proto-dir proto [unittest args, e.g. -k Standby]

The messages of grpc.health.v1 and grpc.reflection are built from descriptor sets that protoc
compiles from /usr/share/grpc-proto at run time (no generated Python code: a generated `grpc/`
package would shadow grpcio). bitdex's own messages come only from reflection.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:  # pragma: no cover - environment problem, reported plainly
    sys.stderr.write(
        "test_services: %s\nrun with /usr/bin/python3 and install python3-grpcio "
        "python3-protobuf (scripts/install-deps.sh)\n" % e
    )
    sys.exit(1)

OPTS = None  # parsed command line (see main)

# Slower builds (ASan+UBSan, valgrind) get proportionally more time for start-up waits.
SLOW = bitdex_proc.SLOW
START_TIMEOUT = bitdex_proc.START_TIMEOUT
GRACE_MS = 3000

SERVING, NOT_SERVING = 1, 2

WRITER_SERVICE = "bitdex.v1.Writer"
QUERY_SERVICE = "bitdex.v1.Query"
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICES = ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")

CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),  # loopback only, whatever http_proxy says
    ("grpc.enable_retries", 0),  # surface UNAVAILABLE at once
]


# --- processes -------------------------------------------------------------------------------

class Server(bitdex_proc.BitdexProcess):
    """One bitdex process (bitdex_proc: log, port, cleanup at exit); the environment is passed
    through as is (test_env_fallback sets BITDEX_* on purpose)."""

    def __init__(self, kind, args, name=None, env=None):
        binary = OPTS.writer if kind == "writer" else OPTS.reader
        super().__init__([binary] + args, name=name or kind, env=env, strip_env=False)


def writer_args(data_dir):
    return ["--data-dir", data_dir, "--listen", "127.0.0.1:0", "--grace-ms", str(GRACE_MS),
            "--log-level", "debug"]


def reader_args(data_dir, writer_addr):
    return ["--data-dir", data_dir, "--listen", "127.0.0.1:0", "--writer", writer_addr,
            "--grace-ms", str(GRACE_MS), "--log-level", "debug"]


# --- protobuf plumbing -----------------------------------------------------------------------

def pool_from_files(serialized_files):
    """A DescriptorPool from serialized FileDescriptorProtos in any order (deps added first)."""
    protos = {}
    for b in serialized_files:
        fdp = descriptor_pb2.FileDescriptorProto()
        fdp.ParseFromString(b)
        protos[fdp.name] = fdp
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, stack=()):
        if name in added:
            return
        if name not in protos:
            raise AssertionError("dependency %s of %s was not returned" % (name, stack[-1] if stack else "?"))
        if name in stack:
            raise AssertionError("import cycle through %s" % name)
        for dep in protos[name].dependency:
            add(dep, stack + (name,))
        pool.Add(protos[name])
        added.add(name)

    for name in protos:
        add(name)
    return pool, protos


class Messages:
    """Message classes of grpc.health.v1 and grpc.reflection.{v1,v1alpha}."""

    def __init__(self, tmp):
        files = ["grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
                 "grpc/reflection/v1alpha/reflection.proto"]
        missing = [f for f in files if not os.path.exists(os.path.join(OPTS.grpc_proto_dir, f))]
        if missing:
            raise RuntimeError("missing %s under %s (install grpc-proto)" % (missing, OPTS.grpc_proto_dir))
        fds = bitdex_proc.descriptor_set([OPTS.grpc_proto_dir], files, os.path.join(tmp, "grpc.desc"))
        self.pool, _ = pool_from_files([f.SerializeToString() for f in fds.file])
        self._factory = message_factory.MessageFactory(self.pool)
        self.HealthCheckRequest = self.cls("grpc.health.v1.HealthCheckRequest")
        self.HealthCheckResponse = self.cls("grpc.health.v1.HealthCheckResponse")
        self.reflection = {}
        for version in ("v1", "v1alpha"):
            pkg = "grpc.reflection.%s." % version
            self.reflection[version] = (self.cls(pkg + "ServerReflectionRequest"),
                                        self.cls(pkg + "ServerReflectionResponse"))

    def cls(self, full_name):
        return self._factory.GetPrototype(self.pool.FindMessageTypeByName(full_name))


MSG = None  # Messages, built once in main()


def channel(server):
    return grpc.insecure_channel(server.address, options=CHANNEL_OPTIONS)


def health_check(ch, service, timeout=5):
    call = ch.unary_unary("/grpc.health.v1.Health/Check",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=MSG.HealthCheckResponse.FromString)
    return call(MSG.HealthCheckRequest(service=service), timeout=timeout).status


def health_watch(ch, service, timeout):
    call = ch.unary_stream("/grpc.health.v1.Health/Watch",
                           request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=MSG.HealthCheckResponse.FromString)
    return call(MSG.HealthCheckRequest(service=service), timeout=timeout)


def wait_status(ch, service, want, timeout):
    """Polls Health.Check until it answers `want`; returns the last answer (or error code)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = health_check(ch, service, timeout=2)
            if last == want:
                return last
        except grpc.RpcError as e:
            last = e.code()
        time.sleep(0.1)
    return last


def reflect(ch, version, requests, timeout=5 * SLOW):
    """Sends `requests` (dicts of ServerReflectionRequest fields) on one stream; returns replies."""
    Req, Resp = MSG.reflection[version]
    method = "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version
    call = ch.stream_stream(method, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=Resp.FromString)
    reqs = [Req(host="", **r) for r in requests]
    return list(call(iter(reqs), timeout=timeout))


def status_name(code):
    return code.name if code is not None else "none"


# --- test base -------------------------------------------------------------------------------

class ProcessTestCase(unittest.TestCase):
    """Keeps the servers a test started; prints their logs when the test fails."""

    servers_cls = []

    def setUp(self):
        self.servers = []
        self.tmp = tempfile.mkdtemp(prefix="bitdex-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self._stop_servers)

    def _stop_servers(self):
        for s in self.servers:
            s.kill()

    def start(self, kind, args, name=None):
        s = Server(kind, args, name)
        self.servers.append(s)
        s.wait_listening()
        return s

    def run(self, result=None):
        n = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > n:
            for s in getattr(self, "servers", []) + type(self).servers_cls:
                sys.stderr.write("\n--- log of %s (%s)\n%s\n" % (s.name, " ".join(s.argv), s.log(200)))
        return out


class SharedServers(ProcessTestCase):
    """One writer and one reader shared by the read-only checks of this class."""

    @classmethod
    def setUpClass(cls):
        cls.cls_tmp = tempfile.mkdtemp(prefix="bitdex-it-")
        data = os.path.join(cls.cls_tmp, "data")
        os.mkdir(data)
        cls.servers_cls = []
        try:
            cls.writer = Server("writer", writer_args(data))
            cls.servers_cls.append(cls.writer)
            cls.writer.wait_listening()
            cls.reader = Server("reader", reader_args(data, cls.writer.address))
            cls.servers_cls.append(cls.reader)
            cls.reader.wait_listening()
            cls.wch = channel(cls.writer)
            cls.rch = channel(cls.reader)
            # The reader is "caught up" immediately today; allow it some time anyway.
            wait_status(cls.rch, QUERY_SERVICE, SERVING, START_TIMEOUT)
            wait_status(cls.wch, WRITER_SERVICE, SERVING, START_TIMEOUT)
        except BaseException:
            for s in cls.servers_cls:
                sys.stderr.write("\n--- log of %s\n%s\n" % (s.name, s.log(200)))
            cls._cleanup_class()
            raise

    @classmethod
    def _cleanup_class(cls):
        for s in cls.servers_cls:
            s.kill()
        shutil.rmtree(cls.cls_tmp, True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.wch.close()
            cls.rch.close()
            # Both must shut down cleanly on SIGTERM when idle, too.
            for s in (cls.reader, cls.writer):
                rc, took = s.terminate(GRACE_MS / 1000 + 10 * SLOW)
                if rc != 0:
                    sys.stderr.write("\n--- log of %s\n%s\n" % (s.name, s.log(200)))
                    raise AssertionError("%s: SIGTERM when idle: exit status %s after %.1f s"
                                         % (s.name, rc, took))
        finally:
            cls._cleanup_class()

    # -- health ---------------------------------------------------------------------------

    def check_health(self, ch, service):
        self.assertEqual(health_check(ch, ""), SERVING, 'Check("")')
        self.assertEqual(health_check(ch, service), SERVING, "Check(%r)" % service)
        for unknown in ("nope.v1.Nothing", "bitdex.v1.Nope"):
            with self.assertRaises(grpc.RpcError, msg="Check(%r) must fail" % unknown) as cm:
                health_check(ch, unknown)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND,
                             "Check(%r): %s" % (unknown, cm.exception.details()))

    def test_health_writer(self):
        self.check_health(self.wch, WRITER_SERVICE)

    def test_health_reader(self):
        self.check_health(self.rch, QUERY_SERVICE)

    def test_health_reader_does_not_serve_writer(self):
        with self.assertRaises(grpc.RpcError) as cm:
            health_check(self.rch, WRITER_SERVICE)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_health_watch_sends_current_status(self):
        for ch, service in ((self.wch, WRITER_SERVICE), (self.rch, QUERY_SERVICE), (self.wch, "")):
            stream = health_watch(ch, service, timeout=10 * SLOW)
            first = next(stream)
            self.assertEqual(first.status, SERVING, "Watch(%r) first message" % service)
            stream.cancel()

    # -- reflection -----------------------------------------------------------------------

    def list_services(self, ch, version):
        replies = reflect(ch, version, [{"list_services": ""}])
        self.assertEqual(len(replies), 1, "one reply per request")
        r = replies[0]
        self.assertEqual(r.WhichOneof("message_response"), "list_services_response",
                         "list_services answered with %s" % r)
        return {s.name for s in r.list_services_response.service}

    def test_reflection_lists_services(self):
        for version in ("v1", "v1alpha"):
            with self.subTest(version=version):
                want_common = {HEALTH_SERVICE, *REFLECTION_SERVICES}
                got = self.list_services(self.wch, version)
                self.assertTrue(want_common | {WRITER_SERVICE} <= got, "writer lists %s" % sorted(got))
                self.assertNotIn(QUERY_SERVICE, got)
                got = self.list_services(self.rch, version)
                self.assertTrue(want_common | {QUERY_SERVICE} <= got, "reader lists %s" % sorted(got))
                self.assertNotIn(WRITER_SERVICE, got)

    def fetch_pool(self, ch, version, symbol):
        replies = reflect(ch, version, [{"file_containing_symbol": symbol}])
        self.assertEqual(len(replies), 1)
        r = replies[0]
        self.assertEqual(r.WhichOneof("message_response"), "file_descriptor_response",
                         "file_containing_symbol(%s): %s" % (symbol, r))
        self.assertEqual(r.original_request.file_containing_symbol, symbol, "original_request echoed")
        return pool_from_files(list(r.file_descriptor_response.file_descriptor_proto))

    def contract_service(self, full_name):
        """The service as declared in --proto-dir (the API contract)."""
        root = OPTS.proto_dir
        files = []
        for d, _, names in os.walk(root):
            files += [os.path.relpath(os.path.join(d, n), root) for n in names if n.endswith(".proto")]
        fds = bitdex_proc.descriptor_set([root], sorted(files), os.path.join(self.tmp, "contract.desc"))
        pool, _ = pool_from_files([f.SerializeToString() for f in fds.file])
        return pool.FindServiceByName(full_name)

    def test_reflection_matches_contract(self):
        for ch, service in ((self.wch, WRITER_SERVICE), (self.rch, QUERY_SERVICE)):
            for version in ("v1", "v1alpha"):
                with self.subTest(service=service, version=version):
                    pool, _ = self.fetch_pool(ch, version, service)
                    got = pool.FindServiceByName(service)
                    want = self.contract_service(service)
                    sig = lambda s: sorted((m.name, m.input_type.full_name, m.output_type.full_name)
                                           for m in s.methods)
                    self.assertEqual(sig(got), sig(want), "reflected %s vs proto/" % service)

    def test_reflection_symbols_and_files(self):
        for ch, service in ((self.wch, WRITER_SERVICE), (self.rch, QUERY_SERVICE)):
            for version in ("v1", "v1alpha"):
                with self.subTest(service=service, version=version):
                    pool, protos = self.fetch_pool(ch, version, service)
                    svc = pool.FindServiceByName(service)
                    method = svc.methods[0]
                    # A method's full name and a message name resolve to the same files.
                    for symbol in ("%s.%s" % (service, method.name), method.input_type.full_name):
                        p2, _ = self.fetch_pool(ch, version, symbol)
                        p2.FindMessageTypeByName(method.input_type.full_name)
                    # file_by_filename, for the service's file and the health proto.
                    for fname in (svc.file.name, "grpc/health/v1/health.proto"):
                        r = reflect(ch, version, [{"file_by_filename": fname}])[0]
                        self.assertEqual(r.WhichOneof("message_response"), "file_descriptor_response",
                                         "file_by_filename(%s): %s" % (fname, r))
                        names = set()
                        for b in r.file_descriptor_response.file_descriptor_proto:
                            fdp = descriptor_pb2.FileDescriptorProto()
                            fdp.ParseFromString(b)
                            names.add(fdp.name)
                        self.assertIn(fname, names)
                    # Several requests on one stream, answered in order; unknowns are NOT_FOUND
                    # error responses, not a broken stream.
                    replies = reflect(ch, version, [{"file_containing_symbol": "nope.v1.Missing"},
                                                    {"file_by_filename": "nope/missing.proto"},
                                                    {"list_services": ""}])
                    self.assertEqual([r.WhichOneof("message_response") for r in replies],
                                     ["error_response", "error_response", "list_services_response"])
                    for r in replies[:2]:
                        self.assertEqual(r.error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])

    def dynamic_call(self, ch, version, service, prefer):
        """Calls one unary method of `service` knowing only the address (like grpcurl)."""
        pool, _ = self.fetch_pool(ch, version, service)
        svc = pool.FindServiceByName(service)
        unary = [m for m in svc.methods if not m.client_streaming and not m.server_streaming]
        self.assertTrue(unary, "%s has no unary method" % service)
        by_name = {m.name: m for m in unary}
        method = next((by_name[n] for n in prefer if n in by_name), unary[0])
        factory = message_factory.MessageFactory(pool)
        Req = factory.GetPrototype(method.input_type)
        Resp = factory.GetPrototype(method.output_type)
        req = Req()
        fields = Req.DESCRIPTOR.fields_by_name
        if "index" in fields and fields["index"].type == fields["index"].TYPE_STRING:
            req.index = "it-missing-index"
        if "limit" in fields and fields["limit"].cpp_type in (
                fields["limit"].CPPTYPE_INT32, fields["limit"].CPPTYPE_INT64,
                fields["limit"].CPPTYPE_UINT32, fields["limit"].CPPTYPE_UINT64):
            req.limit = 10
        call = ch.unary_unary("/%s/%s" % (service, method.name),
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=Resp.FromString)
        t0 = time.monotonic()
        try:
            resp = call(req, timeout=10)
            code, details = grpc.StatusCode.OK, ""
            self.assertIsInstance(resp, Resp)
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        took = time.monotonic() - t0
        # A proper application status, never a transport failure or a hang.
        proper = {grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND,
                  grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION}
        self.assertIn(code, proper, "%s/%s -> %s %r" % (service, method.name, status_name(code), details))
        if code != grpc.StatusCode.OK:
            self.assertTrue(details, "%s/%s: status %s without a message" % (service, method.name, code.name))
        self.assertLess(took, 5, "%s/%s took %.1f s" % (service, method.name, took))
        return method.name, code

    def test_reflection_dynamic_call(self):
        for version in ("v1", "v1alpha"):
            with self.subTest(version=version, service=QUERY_SERVICE):
                self.dynamic_call(self.rch, version, QUERY_SERVICE, ["Search"])
            with self.subTest(version=version, service=WRITER_SERVICE):
                self.dynamic_call(self.wch, version, WRITER_SERVICE,
                                  ["ListIndexes", "GetIndex", "GetStats", "Stats"])

    # -- unknown methods ------------------------------------------------------------------

    def test_unknown_methods_unimplemented(self):
        for ch, name in ((self.wch, "writer"), (self.rch, "reader")):
            for path in ("/bitdex.v1.Query/Nope", "/bitdex.v1.Writer/Nope", "/nope.Svc/X",
                         "/grpc.health.v1.Health/Nope"):
                with self.subTest(server=name, method=path):
                    call = ch.unary_unary(path, request_serializer=lambda b: b,
                                          response_deserializer=lambda b: b)
                    t0 = time.monotonic()
                    with self.assertRaises(grpc.RpcError) as cm:
                        call(b"", timeout=10)
                    took = time.monotonic() - t0
                    self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED,
                                     "%s: %s" % (path, cm.exception.details()))
                    self.assertLess(took, 2.0, "%s answered after %.2f s" % (path, took))
            with self.subTest(server=name, method="streaming to an unknown method"):
                call = ch.stream_stream("/nope.Svc/Stream", request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
                t0 = time.monotonic()
                with self.assertRaises(grpc.RpcError) as cm:
                    list(call(iter([b"", b"x"]), timeout=10))
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
                self.assertLess(time.monotonic() - t0, 2.0)


class Standby(ProcessTestCase):
    """Two writers on one data directory: flock election, standby, take-over."""

    def test_second_writer_is_standby_then_takes_over(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        a = self.start("writer", writer_args(data), "writer-a")
        ach = channel(a)
        self.addCleanup(ach.close)
        self.assertEqual(wait_status(ach, WRITER_SERVICE, SERVING, START_TIMEOUT), SERVING,
                         "first writer becomes active")
        b = self.start("writer", writer_args(data), "writer-b")
        bch = channel(b)
        self.addCleanup(bch.close)
        # The standby answers (liveness) but is not ready (readiness).
        self.assertEqual(health_check(bch, ""), SERVING)
        self.assertEqual(health_check(bch, WRITER_SERVICE), NOT_SERVING, "second writer is a standby")
        time.sleep(0.5)
        self.assertEqual(health_check(bch, WRITER_SERVICE), NOT_SERVING, "standby stays standby")
        self.assertEqual(health_check(ach, WRITER_SERVICE), SERVING, "first writer stays active")
        # A Watch on the standby reports NOT_SERVING now, then SERVING after the take-over.
        watch = health_watch(bch, WRITER_SERVICE, timeout=60 * SLOW)
        seen = []
        watcher = threading.Thread(target=lambda: _collect(watch, seen, SERVING), daemon=True)
        watcher.start()

        rc, took = a.terminate(GRACE_MS / 1000 + 5 * SLOW)
        self.assertEqual(rc, 0, "active writer exit status after SIGTERM (%.1f s)" % took)
        got = wait_status(bch, WRITER_SERVICE, SERVING, 20 * SLOW)
        self.assertEqual(got, SERVING, "standby took over after the active writer exited")
        self.assertEqual(health_check(bch, ""), SERVING)
        watcher.join(10 * SLOW)
        watch.cancel()
        self.assertFalse(watcher.is_alive(), "Watch on the standby never reported SERVING")
        self.assertTrue(seen and seen[0] == NOT_SERVING and seen[-1] == SERVING,
                        "Watch statuses on the standby: %s" % seen)

        # And the new active writer can have a standby of its own.
        c = self.start("writer", writer_args(data), "writer-c")
        cch = channel(c)
        self.addCleanup(cch.close)
        self.assertEqual(health_check(cch, WRITER_SERVICE), NOT_SERVING)
        for s in (c, b):
            rc, took = s.terminate(GRACE_MS / 1000 + 5 * SLOW)
            self.assertEqual(rc, 0, "%s exit status after SIGTERM (%.1f s)" % (s.name, took))


def _collect(stream, seen, until):
    try:
        for msg in stream:
            seen.append(msg.status)
            if msg.status == until:
                return
    except grpc.RpcError:
        pass


class Shutdown(ProcessTestCase):
    """SIGTERM with calls in flight: every call ends with a status, exit 0 within the grace."""

    def drain_under_load(self, server, service):
        ch = channel(server)
        self.addCleanup(ch.close)
        self.assertEqual(wait_status(ch, service, SERVING, START_TIMEOUT), SERVING)

        stop = threading.Event()
        results = []  # (thread, ok_count, final code)
        progress = [0] * 6  # calls completed per thread
        lock = threading.Lock()
        ok_codes = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}

        def hammer(i):
            # Its own channel, so some calls race the shutdown on a fresh connection.
            own = channel(server) if i % 2 else ch
            n, final = 0, None
            t_end = time.monotonic() + 60 * SLOW
            try:
                while not stop.is_set() and time.monotonic() < t_end:
                    try:
                        st = health_check(own, "" if i % 3 == 0 else service, timeout=10 * SLOW)
                        n += 1
                        progress[i] = n
                        if st not in (SERVING, NOT_SERVING):
                            final = "bad status %s" % st
                            break
                    except grpc.RpcError as e:
                        final = e.code()
                        break
                else:
                    final = final or "still running"
            finally:
                if own is not ch:
                    own.close()
                with lock:
                    results.append((i, n, final))

        threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(6)]
        for t in threads:
            t.start()
        watch = health_watch(ch, service, timeout=60 * SLOW)
        watch_result = {}

        def follow():
            statuses = []
            try:
                for m in watch:
                    statuses.append(m.status)
                watch_result["code"] = grpc.StatusCode.OK
            except grpc.RpcError as e:
                watch_result["code"] = e.code()
            watch_result["statuses"] = statuses

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        # Let the load build up: every hammer thread has completed calls.
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline and min(progress) == 0 and len(results) == 0:
            time.sleep(0.1)
        time.sleep(0.3)

        rc, took = server.terminate(GRACE_MS / 1000 + 5 * SLOW)
        t_term = time.monotonic()
        for t in threads:
            t.join(max(0.1, 15 * SLOW - (time.monotonic() - t_term)))
        follower.join(max(0.1, 15 * SLOW - (time.monotonic() - t_term)))
        stop.set()
        watch.cancel()

        endings = {}
        for _, _, final in results:
            key = status_name(final) if isinstance(final, grpc.StatusCode) else str(final)
            endings[key] = endings.get(key, 0) + 1
        sys.stderr.write("[%s: %d calls OK before/while draining; callers ended with %s; Watch %s; "
                         "exit %s after %.2f s] " % (server.name, sum(n for _, n, _ in results), endings,
                                                     status_name(watch_result.get("code")), rc, took))
        self.assertEqual(rc, 0, "exit status after SIGTERM under load (waited %.1f s)" % took)
        self.assertLess(took, GRACE_MS / 1000 + 2 * SLOW,
                        "exit took %.1f s, grace is %d ms" % (took, GRACE_MS))
        hung = [t for t in threads if t.is_alive()]
        self.assertFalse(hung, "%d Health.Check callers never got a status" % len(hung))
        self.assertFalse(follower.is_alive(), "the Watch stream never ended after SIGTERM")
        self.assertEqual(len(results), len(threads))
        total = sum(n for _, n, _ in results)
        self.assertGreater(total, 0, "no call succeeded before SIGTERM")
        for i, n, final in sorted(results):
            self.assertIn(final, ok_codes, "caller %d (%d calls OK) ended with %s" % (i, n, final))
        self.assertIn(watch_result.get("code"), ok_codes | {grpc.StatusCode.OK},
                      "Watch ended with %s" % watch_result)
        self.assertTrue(watch_result["statuses"] and watch_result["statuses"][0] == SERVING,
                        "Watch statuses: %s" % watch_result["statuses"])

    def test_writer_sigterm_under_load(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        w = self.start("writer", writer_args(data))
        self.drain_under_load(w, WRITER_SERVICE)

    def test_reader_sigterm_under_load(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        w = self.start("writer", writer_args(data))
        r = self.start("reader", reader_args(data, w.address))
        self.drain_under_load(r, QUERY_SERVICE)
        rc, _ = w.terminate(GRACE_MS / 1000 + 5 * SLOW)
        self.assertEqual(rc, 0)

    def test_sigint_exits_zero(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        w = self.start("writer", writer_args(data))
        w.proc.send_signal(signal.SIGINT)
        rc = w.proc.wait(GRACE_MS / 1000 + 5 * SLOW)
        self.assertEqual(rc, 0)


class Usage(ProcessTestCase):
    """Command-line errors exit 2 without starting a server."""

    def run_binary(self, kind, args, env=None):
        binary = OPTS.writer if kind == "writer" else OPTS.reader
        e = bitdex_proc.clean_env(env)
        p = subprocess.run([binary] + args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=20 * SLOW, env=e)
        return p.returncode, p.stdout + p.stderr

    def test_usage_errors_exit_2(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        cases = [
            ("writer", ["--bogus-flag"]),
            ("writer", ["--listen", "127.0.0.1:0"]),  # no --data-dir
            ("writer", ["--data-dir", data, "--listen", "127.0.0.1:0", "--log-level", "loud"]),
            ("writer", ["--data-dir", data, "--listen", "127.0.0.1:0", "--threads", "many"]),
            ("reader", ["--bogus-flag"]),
            ("reader", ["--listen", "127.0.0.1:0"]),  # no --data-dir
            ("reader", ["--data-dir", data, "--listen", "127.0.0.1:0", "--grace-ms", "-1"]),
        ]
        for kind, args in cases:
            with self.subTest(kind=kind, args=args):
                rc, out = self.run_binary(kind, args)
                self.assertEqual(rc, 2, "%s %s -> %s\n%s" % (kind, " ".join(args), rc, out))
                self.assertTrue(out.strip(), "a usage error says what is wrong")

    def test_env_fallback(self):
        # Flags may come from the environment (BITDEX_DATA_DIR, BITDEX_LISTEN).
        data = os.path.join(self.tmp, "data")
        os.mkdir(data)
        env = dict(os.environ, BITDEX_DATA_DIR=data, BITDEX_LISTEN="127.0.0.1:0")
        s = Server("writer", ["--grace-ms", str(GRACE_MS)], "writer-env", env=env)
        self.servers.append(s)
        s.wait_listening()
        ch = channel(s)
        self.addCleanup(ch.close)
        self.assertEqual(wait_status(ch, WRITER_SERVICE, SERVING, START_TIMEOUT), SERVING)
        rc, _ = s.terminate(GRACE_MS / 1000 + 5 * SLOW)
        self.assertEqual(rc, 0)


def main():
    global OPTS, MSG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writer", required=True, help="path to bitdex-writer")
    ap.add_argument("--reader", required=True, help="path to bitdex-reader")
    ap.add_argument("--proto-dir", required=True, help="the repository's proto/ (the API contract)")
    ap.add_argument("--grpc-proto-dir", default="/usr/share/grpc-proto",
                    help="where grpc/health and grpc/reflection protos live (Debian grpc-proto)")
    OPTS, rest = ap.parse_known_args()
    for b in (OPTS.writer, OPTS.reader):
        if not os.access(b, os.X_OK):
            ap.error("not an executable: %s" % b)
    tmp = tempfile.mkdtemp(prefix="bitdex-it-pb-")
    try:
        MSG = Messages(tmp)
    finally:
        shutil.rmtree(tmp, True)
    prog = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    r = prog.result
    ok = r.wasSuccessful() and r.testsRun > 0
    # The plain closing line CI reads, besides unittest's own summary. A test with failing
    # subtests counts once.
    def tid(t):
        return getattr(t, "test_case", t).id()

    failed = {tid(t) for t, _ in r.failures + r.errors} | {tid(t) for t in r.unexpectedSuccesses}
    skipped = {tid(t) for t, _ in r.skipped} - failed
    print("integration: %d passed, %d failed, %d skipped"
          % (r.testsRun - len(failed) - len(skipped), len(failed), len(skipped)))
    bitdex_proc.kill_all()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
