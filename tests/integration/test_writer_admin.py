#!/usr/bin/python3
"""Index administration on the real bitdex-writer, through a real gRPC client.

Starts bitdex-writer on 127.0.0.1:0 (the port is read from its `msg=listening ... port=N` log
line), each test with its own temporary data directory, and checks the Writer's index admin:

  - CreateIndex / GetIndex / ListIndexes / DropIndex, with defaults filled in on the way back;
    CreateIndex of an identical schema is a no-op, of a different one ALREADY_EXISTS;
  - every kind of bad input is INVALID_ARGUMENT naming the field path;
  - unknown index: NOT_FOUND; methods of later changes: UNIMPLEMENTED;
  - with --admin-token (or BITDEX_ADMIN_TOKEN): mutating calls without the header are
    UNAUTHENTICATED, with a wrong token PERMISSION_DENIED; read-only calls need none;
  - a standby writer answers every Writer method UNAVAILABLE, and serves the indexes after it
    takes over;
  - indexes survive a restart; a --config-dir of YAML declarations is honoured (created at
    start, kept on restart), and a declaration that conflicts with the data, or a bad file,
    stops the writer with exit status 1 and a message naming the file.

Run it with Debian's grpcio under /usr/bin/python3:

  /usr/bin/python3 tests/integration/test_writer_admin.py \\
      --writer build/services/writer/bitdex-writer --proto-dir proto [unittest args]

The bitdex.v1 message classes are generated with the system protoc (--python_out) into a
temporary directory at start.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)

try:
    import grpc
except ImportError as e:  # pragma: no cover - environment problem, reported plainly
    sys.stderr.write("test_writer_admin: %s\nrun with /usr/bin/python3 (python3-grpcio)\n" % e)
    sys.exit(1)

OPTS = None
PB = None  # namespace of the generated modules: PB.writer, PB.schema

SLOW = bitdex_proc.SLOW
START_TIMEOUT = bitdex_proc.START_TIMEOUT
GRACE_MS = 2000
TOKEN = "s3cret-token"

WRITER_SERVICE = "bitdex.v1.Writer"
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
C = grpc.StatusCode


# --- processes -------------------------------------------------------------------------------

class Writer(bitdex_proc.BitdexProcess):
    """One bitdex-writer process (bitdex_proc: log, port, cleanup at exit), without the caller's
    BITDEX_* environment: `env` is added to that."""

    def __init__(self, args, name="writer", env=None):
        super().__init__([OPTS.writer] + args, name=name, env=env)

    def log(self, last=80):
        return super().log(last)

    def terminate(self, timeout=GRACE_MS / 1000 + 10 * SLOW):
        """SIGTERM, then wait up to `timeout` s; the exit status, or None."""
        return super().terminate(timeout)[0]


def writer_args(data_dir, *extra):
    return ["--data-dir", data_dir, "--listen", "127.0.0.1:0", "--grace-ms", str(GRACE_MS),
            "--log-level", "debug"] + list(extra)


# --- protobuf --------------------------------------------------------------------------------

METHODS = {
    # name: (request class name, response class name)
    "CreateIndex": ("CreateIndexRequest", "CreateIndexResponse"),
    "DropIndex": ("DropIndexRequest", "DropIndexResponse"),
    "ListIndexes": ("ListIndexesRequest", "ListIndexesResponse"),
    "GetIndex": ("GetIndexRequest", "GetIndexResponse"),
    "Apply": ("ApplyRequest", "ApplyResponse"),
    "Checkpoint": ("CheckpointRequest", "CheckpointResponse"),
}


def module_of(cls_name):
    return PB.schema if hasattr(PB.schema, cls_name) else PB.writer


class Client:
    def __init__(self, writer, token=None):
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % writer.port, options=CHANNEL_OPTIONS)
        self.token = token

    def close(self):
        self.ch.close()

    def call(self, method, req, metadata=None, token=None):
        req_name, resp_name = METHODS[method]
        resp_cls = getattr(module_of(resp_name), resp_name)
        stub = self.ch.unary_unary("/%s/%s" % (WRITER_SERVICE, method),
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=resp_cls.FromString)
        md = list(metadata or [])
        tok = token if token is not None else self.token
        if tok and metadata is None:
            md.append(("authorization", "Bearer " + tok))
        return stub(req, metadata=md or None, timeout=10 * SLOW)

    def code_of(self, method, req, **kw):
        try:
            self.call(method, req, **kw)
            return C.OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()

    # helpers
    def create(self, index, schema, **kw):
        return self.call("CreateIndex", PB.writer.CreateIndexRequest(index=index, schema=schema), **kw)

    def get(self, index):
        return self.call("GetIndex", PB.schema.GetIndexRequest(index=index)).index

    def names(self):
        return [i.index for i in self.call("ListIndexes", PB.schema.ListIndexesRequest()).indexes]


def images_schema():
    """The reference schema (as in docs/api.md), leaving bits and limits to their defaults."""
    S = PB.schema
    INT, BOOL, STRING = (S.FILTER_FIELD_TYPE_INT, S.FILTER_FIELD_TYPE_BOOL,
                         S.FILTER_FIELD_TYPE_STRING)
    s = S.IndexSchema()
    for name, t, multi, nullable in [("nsfwLevel", INT, False, False), ("tagIds", INT, True, True),
                                     ("userId", INT, False, False), ("baseModel", STRING, False, False),
                                     ("hasMeta", BOOL, False, False),
                                     ("blockedFor", STRING, False, True)]:
        s.filter_fields.add(name=name, type=t, multi_valued=multi, nullable=nullable)
    s.sort_fields.add(name="createdAt")
    s.sort_fields.add(name="publishedAt")
    f = s.sort_fields.add(name="sortAt")
    f.computed.function = S.COMPUTE_FUNCTION_GREATEST
    f.computed.sources.extend(["createdAt", "publishedAt"])
    s.sort_fields.add(name="reactionCount", bits=20)
    s.stored_fields.add(name="url", type=S.STORED_FIELD_TYPE_STRING)
    s.stored_fields.add(name="width", type=S.STORED_FIELD_TYPE_INT)
    return s


POSTS_YAML = """\
# declared in the config dir
index: posts
filter_fields:
  - {name: userId, type: int}
sort_fields:
  - name: score
    bits: 16
limits:
  max_page_size: 100
"""


# --- tests -----------------------------------------------------------------------------------

class WriterTestCase(unittest.TestCase):
    def setUp(self):
        self.writers = []
        self.clients = []
        self.tmp = tempfile.mkdtemp(prefix="bitdex-it-admin-")
        self.data = os.path.join(self.tmp, "data")
        os.mkdir(self.data)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self._stop)

    def _stop(self):
        for c in self.clients:
            c.close()
        for w in self.writers:
            w.kill()

    def start(self, *extra, name="writer", env=None, wait_serving=True):
        w = Writer(writer_args(self.data, *extra), name=name, env=env)
        self.writers.append(w)
        w.wait_listening()
        if wait_serving:
            self.wait_serving(w)
        return w

    def client(self, w, token=None):
        c = Client(w, token)
        self.clients.append(c)
        return c

    def wait_serving(self, w, timeout=START_TIMEOUT):
        c = Client(w)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                code, _ = c.code_of("ListIndexes", PB.schema.ListIndexesRequest())
                if code == C.OK:
                    return
                time.sleep(0.05)
            raise AssertionError("%s never served ListIndexes\n%s" % (w.name, w.log()))
        finally:
            c.close()

    def assertCode(self, got, code, contains=None):
        self.assertEqual(got[0], code, "status %s %r, want %s" % (got[0], got[1], code))
        if contains:
            self.assertIn(contains, got[1])

    def run(self, result=None):
        n = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > n:
            for w in getattr(self, "writers", []):
                sys.stderr.write("\n--- log of %s (%s)\n%s\n" % (w.name, " ".join(w.argv), w.log(200)))
        return out


class Admin(WriterTestCase):
    """Without a token: the admin RPCs, their errors, restart."""

    def test_create_get_list_drop_restart(self):
        w = self.start()
        c = self.client(w)
        self.assertEqual(c.names(), [])
        resp = c.create("images", images_schema())
        info = resp.index
        self.assertEqual(info.index, "images")
        self.assertEqual(info.document_count, 0)
        self.assertEqual([f.name for f in info.schema.filter_fields],
                         ["nsfwLevel", "tagIds", "userId", "baseModel", "hasMeta", "blockedFor"])
        self.assertTrue(info.schema.filter_fields[1].multi_valued)
        self.assertEqual([f.bits for f in info.schema.sort_fields], [32, 32, 32, 20],
                         "bits 0 is reported as the default, 32")
        self.assertEqual(list(info.schema.sort_fields[2].computed.sources), ["createdAt", "publishedAt"])
        self.assertEqual(info.schema.limits.max_page_size, 1000)
        self.assertEqual(info.schema.limits.max_prefilters, 64)
        # identical (also with the defaults spelled out): OK, no change
        c.create("images", images_schema())
        explicit = images_schema()
        explicit.sort_fields[0].bits = 32
        explicit.limits.max_batch_ops = 10000
        c.create("images", explicit)
        # different: ALREADY_EXISTS naming the difference
        other = images_schema()
        other.sort_fields[3].bits = 24
        self.assertCode(c.code_of("CreateIndex", PB.writer.CreateIndexRequest(index="images", schema=other)),
                        C.ALREADY_EXISTS, "sort_fields[3] (reactionCount).bits is 20")
        small = PB.schema.IndexSchema()
        small.filter_fields.add(name="a", type=PB.schema.FILTER_FIELD_TYPE_BOOL)
        c.create("alpha", small)
        self.assertEqual(c.names(), ["alpha", "images"])
        self.assertEqual(c.get("images"), info)
        self.assertCode(c.code_of("GetIndex", PB.schema.GetIndexRequest(index="nope")), C.NOT_FOUND,
                        "index nope: not found")
        self.assertCode(c.code_of("GetIndex", PB.schema.GetIndexRequest(index="")),
                        C.INVALID_ARGUMENT, "index: required")
        # drop
        c.call("DropIndex", PB.writer.DropIndexRequest(index="alpha"))
        self.assertEqual(c.names(), ["images"])
        self.assertFalse(os.path.exists(os.path.join(self.data, "indexes", "alpha")))
        self.assertCode(c.code_of("DropIndex", PB.writer.DropIndexRequest(index="alpha")), C.NOT_FOUND)
        self.assertCode(c.code_of("DropIndex", PB.writer.DropIndexRequest(index="")),
                        C.INVALID_ARGUMENT, "index: required")
        # later methods
        self.assertCode(c.code_of("Apply", PB.writer.ApplyRequest(index="images")),
                        C.INVALID_ARGUMENT, "ops: at least one op required")
        # Checkpoint: the first publishes generation 1 (even of an empty index), the next one
        # has nothing new to write
        ck = c.call("Checkpoint", PB.writer.CheckpointRequest(index="images"))
        self.assertEqual((ck.generation, ck.checkpoint_lsn, ck.new_generation), (1, 0, True), ck)
        self.assertGreater(ck.bytes_written, 0)
        with open(os.path.join(self.data, "indexes", "images", "CURRENT")) as f:
            self.assertEqual(f.read(), "gen-1\n")
        ck = c.call("Checkpoint", PB.writer.CheckpointRequest(index="images"))
        self.assertEqual((ck.generation, ck.new_generation, ck.bytes_written), (1, False, 0), ck)
        self.assertCode(c.code_of("Checkpoint", PB.writer.CheckpointRequest(index="nope")),
                        C.NOT_FOUND, "index nope: not found")
        self.assertCode(c.code_of("Checkpoint", PB.writer.CheckpointRequest(index="")),
                        C.INVALID_ARGUMENT, "index: required")
        # restart: the indexes are still there, the dropped one is not
        self.assertEqual(w.terminate(), 0)
        w2 = self.start(name="writer-restarted")
        c2 = self.client(w2)
        self.assertEqual(c2.names(), ["images"])
        self.assertEqual(c2.get("images"), info)
        self.assertIn('msg="index loaded" index=images', w2.text())

    def test_bad_inputs_are_invalid_argument_naming_the_field(self):
        w = self.start()
        c = self.client(w)
        S = PB.schema

        def case(mutate, want, index="images"):
            s = images_schema()
            mutate(s)
            return (index, s, want)

        def computed_sources(s, names):
            del s.sort_fields[2].computed.sources[:]
            s.sort_fields[2].computed.sources.extend(names)

        cases = [
            case(lambda s: None, "index: required", index=""),
            case(lambda s: None, "index: invalid name", index="bad.name"),
            case(lambda s: None, "index: invalid name", index="-x"),
            case(lambda s: None, "index: invalid name", index="x" * 65),
            case(lambda s: setattr(s.filter_fields[0], "name", ""), "schema.filter_fields[0].name: required"),
            case(lambda s: setattr(s.filter_fields[1], "name", "9lives"), "schema.filter_fields[1].name: invalid name"),
            case(lambda s: setattr(s.stored_fields[0], "name", "id"), 'schema.stored_fields[0].name: "id" is reserved'),
            case(lambda s: setattr(s.stored_fields[1], "name", "userId"),
                 'schema.stored_fields[1].name: "userId" is already used by schema.filter_fields[2]'),
            case(lambda s: setattr(s.filter_fields[2], "type", S.FILTER_FIELD_TYPE_UNSPECIFIED),
                 "schema.filter_fields[2].type: required"),
            case(lambda s: setattr(s.stored_fields[0], "type", S.STORED_FIELD_TYPE_UNSPECIFIED),
                 "schema.stored_fields[0].type: required"),
            case(lambda s: setattr(s.sort_fields[3], "bits", 65), "schema.sort_fields[3].bits: 65 > 64"),
            case(lambda s: setattr(s.sort_fields[2].computed, "function", S.COMPUTE_FUNCTION_UNSPECIFIED),
                 "schema.sort_fields[2].computed.function: required"),
            case(lambda s: computed_sources(s, ["createdAt"]),
                 "schema.sort_fields[2].computed.sources: need exactly 2, got 1"),
            case(lambda s: computed_sources(s, ["createdAt", "nope"]),
                 'schema.sort_fields[2].computed.sources[1]: "nope" is not a field'),
            case(lambda s: computed_sources(s, ["createdAt", "userId"]),
                 'schema.sort_fields[2].computed.sources[1]: "userId" is not a sort field'),
            case(lambda s: computed_sources(s, ["sortAt", "createdAt"]),
                 'schema.sort_fields[2].computed.sources[0]: "sortAt" is the field itself'),
            case(lambda s: setattr(s.sort_fields[2], "bits", 8),
                 'schema.sort_fields[2].computed.sources[0]: "createdAt" has 32 bits'),
            case(lambda s: setattr(s.limits, "max_page_size", 10001),
                 "schema.limits.max_page_size: 10001 exceeds the hard cap 10000"),
            case(lambda s: setattr(s.limits, "max_prefilters", 5000),
                 "schema.limits.max_prefilters: 5000 exceeds the hard cap 1024"),
            case(lambda s: [s.sort_fields.add(name="s%d" % i) for i in range(40)],
                 "schema.sort_fields: 44 fields exceed the limit 32"),
        ]
        for index, schema, want in cases:
            with self.subTest(want=want):
                self.assertCode(c.code_of("CreateIndex", PB.writer.CreateIndexRequest(index=index, schema=schema)),
                                C.INVALID_ARGUMENT, want)
        self.assertCode(c.code_of("CreateIndex", PB.writer.CreateIndexRequest(index="images")),
                        C.INVALID_ARGUMENT, "schema: required")
        # nothing of the above was created
        self.assertEqual(c.names(), [])
        self.assertEqual(os.listdir(self.data), ["LOCK"])


class AdminToken(WriterTestCase):
    """--admin-token / BITDEX_ADMIN_TOKEN: mutating calls need `authorization: Bearer <token>`."""

    def check_auth(self, w):
        c = self.client(w)
        create = PB.writer.CreateIndexRequest(index="images", schema=images_schema())
        drop = PB.writer.DropIndexRequest(index="images")
        for method, req in (("CreateIndex", create), ("DropIndex", drop)):
            with self.subTest(method=method):
                self.assertCode(c.code_of(method, req), C.UNAUTHENTICATED, "admin token required")
                self.assertCode(c.code_of(method, req, metadata=[("authorization", "Basic " + TOKEN)]),
                                C.UNAUTHENTICATED, "Bearer")
                self.assertCode(c.code_of(method, req, metadata=[("authorization", "Bearer ")]),
                                C.UNAUTHENTICATED)
                for wrong in ("wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper()):
                    got = c.code_of(method, req, token=wrong)
                    self.assertCode(got, C.PERMISSION_DENIED, "wrong admin token")
                    self.assertNotIn(TOKEN, got[1])
        self.assertEqual(c.names(), [], "nothing created without the token")
        ok = self.client(w, token=TOKEN)
        ok.create("images", images_schema())
        # read-only calls need no token
        self.assertEqual(c.names(), ["images"])
        self.assertEqual(c.get("images").index, "images")
        ok.call("DropIndex", drop)
        self.assertEqual(c.names(), [])
        self.assertNotIn(TOKEN, w.text(), "the token never appears in the log")

    def test_flag(self):
        self.check_auth(self.start("--admin-token", TOKEN))

    def test_env(self):
        self.check_auth(self.start(env={"BITDEX_ADMIN_TOKEN": TOKEN}))


class Standby(WriterTestCase):
    """A standby answers every Writer method UNAVAILABLE, then serves after taking over."""

    def test_standby_unavailable_then_takes_over(self):
        a = self.start(name="writer-a")
        ca = self.client(a)
        ca.create("images", images_schema())
        b = self.start(name="writer-b", wait_serving=False)
        cb = self.client(b)
        want = "standby writer: not the active writer for %s" % self.data
        for method, req in (("ListIndexes", PB.schema.ListIndexesRequest()),
                            ("GetIndex", PB.schema.GetIndexRequest(index="images")),
                            ("CreateIndex", PB.writer.CreateIndexRequest(index="x", schema=images_schema())),
                            ("DropIndex", PB.writer.DropIndexRequest(index="images")),
                            ("Apply", PB.writer.ApplyRequest(index="images")),
                            ("Checkpoint", PB.writer.CheckpointRequest(index="images"))):
            with self.subTest(method=method):
                self.assertCode(cb.code_of(method, req), C.UNAVAILABLE, want)
        self.assertEqual(a.terminate(), 0)
        self.wait_serving(b, 20 * SLOW)
        self.assertEqual(cb.names(), ["images"])
        self.assertEqual(b.terminate(), 0)


class ConfigDir(WriterTestCase):
    """--config-dir: YAML declarations are created at start; conflicts and bad files stop it."""

    def write_config(self, name, text):
        cfg = os.path.join(self.tmp, "config")
        os.makedirs(cfg, exist_ok=True)
        with open(os.path.join(cfg, name), "w") as f:
            f.write(text)
        return cfg

    def test_declarations_created_and_kept(self):
        cfg = self.write_config("posts.yaml", POSTS_YAML)
        shutil.copy(os.path.join(OPTS.proto_dir, "..", "docs", "examples", "images.yaml"), cfg)
        w = self.start("--config-dir", cfg)
        c = self.client(w)
        self.assertEqual(c.names(), ["images", "posts"])
        posts = c.get("posts")
        self.assertEqual(posts.schema.limits.max_page_size, 100)
        self.assertEqual(posts.schema.sort_fields[0].bits, 16)
        images = c.get("images")
        self.assertEqual(images.schema.sort_fields[2].computed.function, PB.schema.COMPUTE_FUNCTION_GREATEST)
        # CreateIndex with the same schema as declared is a no-op
        c.create("posts", posts.schema)
        self.assertEqual(w.terminate(), 0)
        # restart with the same config (by environment this time): nothing changes
        w2 = self.start(name="writer-2", env={"BITDEX_CONFIG_DIR": cfg})
        c2 = self.client(w2)
        self.assertEqual(c2.names(), ["images", "posts"])
        self.assertEqual(c2.get("posts"), posts)
        self.assertNotIn('msg="index created"', w2.text())
        self.assertEqual(w2.terminate(), 0)

    def test_conflict_stops_the_writer(self):
        cfg = self.write_config("posts.yaml", POSTS_YAML)
        w = self.start("--config-dir", cfg)
        self.assertEqual(w.terminate(), 0)
        self.write_config("posts.yaml", POSTS_YAML.replace("bits: 16", "bits: 24"))
        self.write_config("zz.yaml", "index: newer\n")
        w2 = Writer(writer_args(self.data, "--config-dir", cfg), name="writer-conflict")
        self.writers.append(w2)
        rc = w2.wait_exit(START_TIMEOUT)
        self.assertEqual(rc, 1, "exit status on a conflicting declaration")
        text = w2.text()
        self.assertIn("posts.yaml:2: index posts differs from <data>/indexes/posts/schema: "
                      "sort_fields[0] (score).bits is 16 in the existing index, 24 in the file", text)
        self.assertFalse(os.path.exists(os.path.join(self.data, "indexes", "newer")),
                         "nothing is created when a declaration conflicts")

    def test_bad_file_stops_the_writer(self):
        cfg = self.write_config("bad.yaml", "index: x\nsort_fields:\n  - name: s\n    bits: 65\n")
        w = Writer(writer_args(self.data, "--config-dir", cfg), name="writer-bad")
        self.writers.append(w)
        self.assertEqual(w.wait_exit(START_TIMEOUT), 1)
        self.assertIn("bad.yaml:4: sort_fields[0].bits: 65 > 64", w.text())
        self.assertFalse(os.path.exists(os.path.join(self.data, "indexes")))
        missing = Writer(writer_args(self.data, "--config-dir", os.path.join(self.tmp, "nope")),
                         name="writer-missing-config")
        self.writers.append(missing)
        self.assertEqual(missing.wait_exit(START_TIMEOUT), 1)
        self.assertIn("cannot open", missing.text())


def main():
    global OPTS, PB
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writer", required=True, help="path to bitdex-writer")
    ap.add_argument("--proto-dir", required=True, help="the repository's proto/ (the API contract)")
    OPTS, rest = ap.parse_known_args()
    if not os.access(OPTS.writer, os.X_OK):
        ap.error("not an executable: %s" % OPTS.writer)
    OPTS.proto_dir = os.path.abspath(OPTS.proto_dir)
    gen = tempfile.mkdtemp(prefix="bitdex-it-pb-")
    try:
        PB = bitdex_proc.generate_messages(OPTS.proto_dir, gen)  # PB.schema, PB.writer, ...
        prog = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    finally:
        shutil.rmtree(gen, True)
        bitdex_proc.kill_all()
    r = prog.result
    ok = r.wasSuccessful() and r.testsRun > 0
    print("integration: %d run, %d failures, %d errors" % (r.testsRun, len(r.failures), len(r.errors)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
