# Sourced by the test scripts: installs a Debian package the tests need
# when its program is missing (the suite never downloads anything else).
#
#   need_debian_package /usr/bin/chromium chromium
#   need_debian_package '/usr/lib/postgresql/*/bin/postgres' postgresql
#
# The program may be a glob: any match that is executable will do.

need_debian_package() {
  local program="$1" package="$2" sudo="" found
  for found in $program; do
    if [ -x "$found" ]; then return 0; fi
  done
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "tests: installing $package with apt-get" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
}
