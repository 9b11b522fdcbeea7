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

# npm dependencies: a clean install when node_modules is missing or older than the lockfile.
ensure_npm() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}
