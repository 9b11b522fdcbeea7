# Installs missing Debian packages, once, as root or through sudo. Source it, then: ensure_debian CMD:PKG[,PKG] ...
# (a package is installed only if its command is missing).
ensure_debian() {
  local missing=() spec cmd pkgs
  for spec in "$@"; do
    cmd=${spec%%:*}; pkgs=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=(${pkgs//,/ })
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "installing Debian packages: ${missing[*]}"
  # Postfix must not write a system main.cf: tests run private instances.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections 2>/dev/null || true
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# npm dependencies, installed when the manifests changed since the last install. `npm install` rather than
# `npm ci`: the lockfile pins every version either way, and when this registry (which lacks turbo's darwin/windows
# binaries) rewrites the lockfile, `npm install` still works where `npm ci` would refuse the missing entries.
ensure_npm() {
  local stamp=node_modules/.hookgate-install-stamp sum
  sum=$(cat package.json package-lock.json libs/*/package.json services/*/package.json 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    npm install --no-audit --no-fund --loglevel=error
    cat package.json package-lock.json libs/*/package.json services/*/package.json 2>/dev/null | sha256sum | cut -d' ' -f1 > "$stamp"
  fi
}
