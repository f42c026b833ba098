# trustdesk-client: download, check each SHA-256, redeem. In a root shell (sudo -i).
unset HISTFILE  # this shell's history, token included, is not written to disk
(
  set -eu
  d=$(mktemp -d)
  cd "$d"
{%- for f in files %}
  curl -fsS --proto =https --tlsv1.2 -o {{ f.name }} {{ f.url }}
{%- endfor %}
  sha256sum -c <<'SHA256SUMS'
{%- for f in files %}
{{ f.sha256 }}  {{ f.name }}
{%- endfor %}
SHA256SUMS
  chmod 0700 trustdesk-client
  rc=0
  TRUSTDESK_TOKEN={{ token }} ./trustdesk-client --config "$d/client.toml" redeem || rc=$?
  echo "trustdesk-client exit code: $rc"
)
