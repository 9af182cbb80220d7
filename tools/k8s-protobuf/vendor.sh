#!/usr/bin/env bash
# Vendors Kubernetes' own .proto files (kubernetes/api and kubernetes/apimachinery at
# the tag below) into proto/k8s/, compiles them into the descriptor set the server
# loads (proto/k8s/k8s.fds, no source info), and writes what the .proto files do not
# say but Go's JSON does (proto/k8s/go-fields.tsv, from the Go types' struct tags).
# Run by hand after changing the tag; the build needs neither network nor protoc.
#
#   tools/k8s-protobuf/vendor.sh API_GIT_DIR APIMACHINERY_GIT_DIR
set -euo pipefail
TAG=v0.33.3   # Kubernetes v1.33.3
api=$1 machinery=$2
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../../proto/k8s
rm -rf "$out" && mkdir -p "$out/src" "$out/go"
API_PKGS=$(git --git-dir="$api" ls-tree -r --name-only "$TAG" | grep 'generated.proto$' \
  | grep -E '^[a-z]+/(v1|v2)/' | grep -v '^admission/' | xargs -n1 dirname)
MACHINERY_PKGS="pkg/apis/meta/v1 pkg/runtime pkg/runtime/schema pkg/api/resource pkg/util/intstr"
files=()
copy() { # git-dir import-prefix package
  local dir=$out/src/$2/$3
  mkdir -p "$dir" "$out/go/$2/$3"
  git --git-dir="$1" show "$TAG:$3/generated.proto" >"$dir/generated.proto"
  files+=("$2/$3/generated.proto")
  for f in $(git --git-dir="$1" ls-tree --name-only "$TAG" "$3/" | grep '\.go$' \
      | grep -v '_test.go$\|generated.pb.go$\|zz_generated'); do
    git --git-dir="$1" show "$TAG:$f" >>"$out/go/$2/$3/types.go.txt"
  done
}
for p in $API_PKGS; do copy "$api" k8s.io/api "$p"; done
for p in $MACHINERY_PKGS; do copy "$machinery" k8s.io/apimachinery "$p"; done
protoc -I "$out/src" --include_imports --descriptor_set_out="$out/k8s.fds" "${files[@]}"
python3 "$here/go_fields.py" "$out/src" "$out/go" >"$out/go-fields.tsv"
rm -rf "$out/go"
cat >"$out/SOURCE" <<INFO
Kubernetes' generated.proto files at tag $TAG of kubernetes/api and kubernetes/apimachinery
(Kubernetes v1.33.3), Apache-2.0, unchanged. k8s.fds is their FileDescriptorSet
(protoc --include_imports); go-fields.tsv comes from the Go types' struct tags.
Regenerate with tools/k8s-protobuf/vendor.sh.
INFO
