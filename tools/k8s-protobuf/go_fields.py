"""Prints, for every field of every message in Kubernetes' generated.proto files, what
Go's JSON encoding does with it, read from the Go types' struct tags (the .proto files
lose it): `ptr` (a Go pointer: present means set, even to a zero value),
`omitempty` and `inline` (an embedded struct whose fields JSON flattens); and the messages that stand for a Go slice type (`type Verbs []string`,
JSON an array). Lines: message, field number, JSON name, flags."""
import os
import re
import sys

proto_root, go_root = sys.argv[1], sys.argv[2]
FIELD = re.compile(r'^\s+(\*?\w+)(?:\s+([^\s`]+))?\s+`([^`]*)`')
for dirpath, _, names in sorted(os.walk(proto_root)):
    if "generated.proto" not in names:
        continue
    rel = os.path.relpath(dirpath, proto_root)
    text = open(os.path.join(dirpath, "generated.proto")).read()
    package = re.search(r'^package ([\w.]+);', text, re.M).group(1)
    messages = set(re.findall(r'^message (\w+) \{', text, re.M))
    go = open(os.path.join(go_root, rel, "types.go.txt")).read()
    for name, elem in re.findall(r'^type (\w+) \[\](\S+)\s*$', go, re.M):
        if name in messages:
            print(f"{package}.{name}\t-\t-\tslice")
    for match in re.finditer(r'^type (\w+) struct \{\n(.*?)^\}', go, re.M | re.S):
        name, body = match.group(1), match.group(2)
        if name not in messages:
            continue
        for line in body.splitlines():
            field = FIELD.match(line)
            if not field:
                continue
            gotype, tags = field.group(2) or field.group(1), field.group(3)
            pb = re.search(r'protobuf:"([^"]*)"', tags)
            js = re.search(r'json:"([^"]*)"', tags)
            if not pb or not js:
                continue
            number = pb.group(1).split(",")[1]
            parts = js.group(1).split(",")
            flags = []
            if gotype.startswith("*"):
                flags.append("ptr")
            if "omitempty" in parts[1:]:
                flags.append("omitempty")
            if "inline" in parts[1:]:
                flags.append("inline")
            print(f"{package}.{name}\t{number}\t{parts[0]}\t{','.join(flags) or '-'}")
