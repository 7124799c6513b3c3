#!/usr/bin/python3
"""query.py: calling a bitdex reader from Python (Debian's grpcio), as scripts/demo.sh suggests.

Generate the stubs once (scripts/demo.sh does this into .demo/py):

    /usr/bin/python3 -m grpc_tools.protoc -Iproto --python_out=.demo/py \
        --grpc_python_out=.demo/py proto/bitdex/v1/*.proto

then run:

    PYTHONPATH=.demo/py /usr/bin/python3 docs/examples/query.py --target 127.0.0.1:50052

It counts the feed (nsfwLevel NotIn {16,32}), shows its first page sorted by sortAt desc, the
next page through the cursor, a tag page sorted by reactionCount, and fetches the first hits'
documents. Use /usr/bin/python3: the python3 first on PATH may lack grpcio.
"""
import argparse

import grpc
from google.protobuf import json_format

from bitdex.v1 import filter_pb2, query_pb2, query_pb2_grpc, types_pb2


def int_values(xs):
    return [types_pb2.Value(int_value=x) for x in xs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="127.0.0.1:50052", help="a reader's host:port")
    ap.add_argument("--index", default="images")
    ap.add_argument("--tag", type=int, default=0, help="a tag id for the tag page (0: skip)")
    args = ap.parse_args()

    channel = grpc.insecure_channel(args.target, options=[("grpc.enable_http_proxy", 0)])
    query = query_pb2_grpc.QueryStub(channel)

    feed = filter_pb2.Filter(not_in=filter_pb2.FieldSet(field="nsfwLevel",
                                                        values=int_values([16, 32])))
    count = query.Count(query_pb2.CountRequest(index=args.index, filter=feed), timeout=5)
    print("feed: %d documents (snapshot LSN %d)" % (count.count, count.snapshot_lsn))

    by_date = query_pb2.Sort(field="sortAt", direction=types_pb2.SORT_DIRECTION_DESC)
    page = query.Search(query_pb2.SearchRequest(index=args.index, filter=feed, sort=by_date,
                                                limit=5), timeout=5)
    print("feed, newest first:", [(h.id, h.sort_value) for h in page.hits])
    if page.next_cursor:
        more = query.Search(query_pb2.SearchRequest(index=args.index, filter=feed, sort=by_date,
                                                    limit=5, cursor=page.next_cursor), timeout=5)
        print("  next page:", [(h.id, h.sort_value) for h in more.hits])

    if args.tag:
        tag_page = filter_pb2.Filter(all_of=filter_pb2.FilterList(filters=[
            filter_pb2.Filter(eq=filter_pb2.FieldComparison(
                field="tagIds", value=types_pb2.Value(int_value=args.tag))),
            filter_pb2.Filter(is_in=filter_pb2.FieldSet(field="nsfwLevel",
                                                        values=int_values([1, 2]))),
        ]))
        by_reactions = query_pb2.Sort(field="reactionCount",
                                      direction=types_pb2.SORT_DIRECTION_DESC)
        page2 = query.Search(query_pb2.SearchRequest(index=args.index, filter=tag_page,
                                                     sort=by_reactions, limit=5,
                                                     include_total=True), timeout=5)
        print("tag %d, most reactions first (%d in total):" % (args.tag, page2.total.value),
              [(h.id, h.sort_value) for h in page2.hits])

    ids = [h.id for h in page.hits[:2]]
    if ids:
        docs = query.GetDocuments(query_pb2.GetDocumentsRequest(index=args.index, ids=ids),
                                  timeout=5)
        for d in docs.documents:
            print(json_format.MessageToJson(d, indent=None))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        raise SystemExit("query.py: %s: %s" % (e.code().name, e.details()))
