#!/bin/sh
# nginx for the Compose deployment. The certificate is /etc/nginx/tls/fullchain.pem with its
# key privkey.pem: the operator's (SECURECHAT_TLS_DIR in deploy/.env names a folder holding
# them), or, when there are none, a self-signed one made here on first start for
# SECURECHAT_HOSTNAME (default localhost), signed by a local CA made for it (ca.pem beside
# it), all kept in the `tls` volume: fine for trying it on one machine, not for other
# people's browsers. `docker-compose kill -s HUP nginx` reloads a
# renewed certificate.
set -eu
host="${SECURECHAT_HOSTNAME:-localhost}"
tls=/etc/nginx/tls
if [ ! -s "$tls/fullchain.pem" ] || [ ! -s "$tls/privkey.pem" ]; then
  if [ -e "$tls/fullchain.pem" ] || [ -e "$tls/privkey.pem" ]; then
    echo "nginx-entrypoint: $tls holds only one of fullchain.pem and privkey.pem: supply both" >&2
    exit 1
  fi
  echo "nginx-entrypoint: no certificate in $tls: making one for $host, signed by a new local CA ($tls/ca.pem)"
  # A CA of its own (its key is deleted once the certificate is signed), so that a client can
  # trust this deployment by its ca.pem: `securechat --ca-cert ca.pem`, or a browser's
  # authorities list. TLS libraries refuse a CA certificate used as the server's own.
  umask 077
  work="$(mktemp -d)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=securechat local CA for $host" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
    -keyout "$work/privkey.pem" -out "$work/server.csr" 2>/dev/null
  cat > "$work/ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1,IP:::1
EXT
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 825 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
  cat "$work/server.pem" "$work/ca.pem" > "$tls/fullchain.pem"
  cp "$work/privkey.pem" "$tls/privkey.pem"
  cp "$work/ca.pem" "$tls/ca.pem"
  rm -rf "$work"
  chmod 0644 "$tls/fullchain.pem" "$tls/ca.pem"
fi
if [ "$host" = localhost ]; then
  echo "# localhost: no HSTS" > /etc/nginx/securechat-hsts.conf
else
  echo 'add_header Strict-Transport-Security "max-age=31536000" always;' > /etc/nginx/securechat-hsts.conf
fi
nginx -t -q
exec nginx -g 'daemon off;'
