#!/bin/sh
# Runs a command (the Dockerfile's `npm ci`) with the image build's optional network settings:
#   NPM_REGISTRY    an npm registry (mirror) to install from instead of the default
#   EXTRA_CA_CERTS  PEM certificates npm must trust besides the public ones, e.g. a
#                   TLS-intercepting proxy's (Node.js reads them through NODE_EXTRA_CA_CERTS)
# Both come from `docker build --build-arg` and default to none. They are declared in the build
# stages only and the certificates are written to a file that this script removes, so neither is
# in the final image (the runtime stage copies node_modules and dist, nothing else, from them).
set -eu
ca=/tmp/dockgate-extra-ca.pem
if [ -n "${EXTRA_CA_CERTS:-}" ]; then
  printf '%s\n' "$EXTRA_CA_CERTS" >"$ca"
  export NODE_EXTRA_CA_CERTS="$ca"
fi
if [ -n "${NPM_REGISTRY:-}" ]; then
  export npm_config_registry="$NPM_REGISTRY"
fi
rc=0
"$@" || rc=$?
rm -f "$ca"
exit "$rc"
