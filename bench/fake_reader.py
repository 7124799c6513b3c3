#!/usr/bin/python3
"""fake_reader: a stand-in bitdex.v1.Query server for smoke-testing bitdex-bench-grpc.

Answers every Search with an empty SearchResponse and every Count with count 0 (raw bytes, no
generated code), prints `port=N` once listening, and with --dump DIR writes the first request
of each distinct (method, size) to DIR/<method>-<n>.bin, which
`protoc -Iproto --decode bitdex.v1.SearchRequest bitdex/v1/query.proto < FILE` shows as text.
Runs until SIGTERM / Ctrl-C. Debian's grpcio: run with /usr/bin/python3.

    bench/fake_reader.py [--port 0] [--dump DIR]
"""
import argparse
import os
import signal
import threading
from concurrent import futures

import grpc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dump", default="")
    args = ap.parse_args()
    seen = set()
    lock = threading.Lock()

    def handler(method):
        def answer(request, context):
            if args.dump:
                with lock:
                    key = (method, len(request))
                    if key not in seen and len(seen) < 200:
                        seen.add(key)
                        path = os.path.join(args.dump, "%s-%d.bin" % (method, len(seen)))
                        with open(path, "wb") as f:
                            f.write(request)
            return b""

        return grpc.unary_unary_rpc_method_handler(
            answer, request_deserializer=None, response_serializer=None)

    generic = grpc.method_handlers_generic_handler(
        "bitdex.v1.Query", {"Search": handler("Search"), "Count": handler("Count")})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((generic,))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("port=%d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(1).wait()


if __name__ == "__main__":
    main()
