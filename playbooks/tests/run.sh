#!/usr/bin/env bash
# End-to-end test of the playbooks against this machine (connection local), in a compose
# project and a deploy directory of its own:
#   lint (ansible-lint production profile) and --syntax-check;
#   a self-signed certificate for localhost, auth.localhost (Keycloak) and the demo users'
#   hosts (openssl); first run (HTTPS on DEPLOY_HTTPS_PORT, HTTP on DEPLOY_HTTP_PORT
#   redirecting to it); the smoke test (tests/deploy: login in Chromium through Keycloak on its
#   own host, the user's server on <user>.localhost, a token minted by the hub's broker for
#   aud=fruit-api); a second run that must report changed=0; a --check --diff run that must
#   succeed.
# Always removes what it created (containers, volumes, networks, images of its tag, files).
# Needs: Docker Engine + Compose v2, .venv with the [deploy] and [dev] extras, Chromium.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
venv=${VENV:-$repo/.venv}
export PATH=$venv/bin:/usr/bin:$PATH COMPOSE_BAKE=false DOCKER_BUILDKIT=1
export ANSIBLE_CONFIG=$repo/playbooks/ansible.cfg ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
# Each task's time, and the slowest tasks after each run: where a deployment spends its minutes.
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
project=${DEPLOY_PROJECT:-jhk-deploy-test}
https_port=${DEPLOY_HTTPS_PORT:-8443}
http_port=${DEPLOY_HTTP_PORT:-8080}
image_tag=${DEPLOY_IMAGE_TAG:-deploy-test}
user_subdomains=${DEPLOY_USER_SUBDOMAINS:-true}  # false: users' servers under the hub's origin
work=$(mktemp -d /tmp/jhk-deploy-test.XXXXXX)
deploy_dir=$work/stack
log_dir=${DEPLOY_LOG_DIR:-$repo/test-results/deploy}
# Logs are written in the work directory and copied to log_dir at the end: another test run
# in this checkout may delete test-results/ meanwhile (pytest-playwright empties its --output).
logs=$work/logs
mkdir -p "$logs"
started=$(date +%s)

step() { printf '\n=== %s (%ss) ===\n' "$*" "$(( $(date +%s) - started ))"; }

compose() {
  local files=() f
  for f in compose.yml deploy.yml tls.yml tls-files.yml; do files+=(-f "$deploy_dir/compose/$f"); done
  docker compose --project-name "$project" --project-directory "$deploy_dir/compose" "${files[@]}" \
    --env-file "$deploy_dir/secrets.env" --env-file "$deploy_dir/settings.env" "$@"
}

cleanup() {
  status=$?
  set +e
  if [ "$status" -ne 0 ] && [ -f "$deploy_dir/settings.env" ]; then
    echo "=== deploy test failed (exit $status): containers and last log lines ==="
    compose ps --all
    compose logs --tail 40
  fi
  step "cleanup"
  if [ -f "$deploy_dir/settings.env" ] && [ -f "$deploy_dir/secrets.env" ]; then
    compose down --volumes --remove-orphans --timeout 10
  fi
  # Whatever compose could not reach (e.g. a run that failed before the env files existed).
  ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
  [ -n "$ids" ] && docker rm -f $ids >/dev/null
  vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
  [ -n "$vols" ] && docker volume rm $vols >/dev/null
  docker network rm "$project-users" >/dev/null 2>&1
  for image in hub singleuser fruit-api keycloak; do
    docker image rm "jupyterhub-keycloak/$image:$image_tag" >/dev/null 2>&1
  done
  mkdir -p "$log_dir" && cp -r "$logs/." "$log_dir/" && echo "logs in $log_dir"
  rm -rf "$work"
  echo "deploy test took $(( $(date +%s) - started ))s (exit $status)"
  exit "$status"
}
trap cleanup EXIT

step "lint"
ansible-lint -c playbooks/.ansible-lint --profile production playbooks/
ansible-playbook -i playbooks/tests/inventory.yml playbooks/site.yml --syntax-check

for port in "$https_port" "$http_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use: set DEPLOY_HTTPS_PORT / DEPLOY_HTTP_PORT" >&2; exit 1
  fi
done

step "self-signed certificate for localhost"
# Every name the deployment answers on: the hub (localhost), Keycloak (auth.localhost, the
# role's default auth.<stack_public_hostname>) and the servers of the demo users the smoke test
# may start (<user>.localhost, stack_user_subdomains). Listed one by one: a wildcard
# *.localhost is refused by OpenSSL's host name check (Python's ssl, httpx) for
# reader.localhost (a wildcard needs two labels after it).
demo_users=(reader curator hubadmin)
sans="DNS:localhost,DNS:auth.localhost$(printf ',DNS:%s.localhost' "${demo_users[@]}"),IP:127.0.0.1"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=$sans" \
  -keyout "$work/localhost.key" -out "$work/localhost.crt" 2>/dev/null

cat >"$work/vars.yml" <<VARS
stack_dir: $deploy_dir
stack_project: $project
stack_image_tag: $image_tag
stack_public_hostname: localhost
stack_public_bind: 127.0.0.1
stack_https_port: $https_port
stack_http_port: $http_port
stack_tls_mode: files
stack_tls_cert_src: $work/localhost.crt
stack_tls_key_src: $work/localhost.key
stack_validate_certs: false
stack_extra_ca_bundle: "${EXTRA_CA_BUNDLE:-}"
stack_docker_cli: $(command -v docker)
# The smoke test logs in as a demo user: a demo server, so the demo users are asked for.
stack_demo_users: true
# Keycloak at auth.localhost (the role's default) and, with user subdomains (the default),
# each user's server at <user>.localhost.
stack_user_subdomains: $user_subdomains
# Networks of its own, so that it runs beside a development stack (compose's defaults:
# 10.255.224.0/20, bridge jhk-users, proxy-api 10.255.255.248/29) on the same Docker engine.
stack_proxy_api_subnet: 10.255.255.240/29
stack_settings:
  USERS_SUBNET: 10.255.192.0/20
  USERS_HUB_ADDRESS: 10.255.192.2
  USERS_TRAEFIK_ADDRESS: 10.255.192.3
  USERS_BRIDGE: jhkdt-users
VARS

playbook() {
  ansible-playbook -i playbooks/tests/inventory.yml playbooks/site.yml -e "@$work/vars.yml" "$@"
}
recap() {  # the PLAY RECAP counters of localhost in log $1
  grep -E '^localhost +:' "$1" | tail -1
}

step "first run"
t0=$(date +%s)
playbook 2>&1 | tee "$logs/first-run.log"
first=$(( $(date +%s) - t0 ))
echo "first run: ${first}s; $(recap "$logs/first-run.log")"

step "smoke test"
DEPLOY_URL="https://localhost:$https_port" DEPLOY_HTTP_URL="http://localhost:$http_port" \
DEPLOY_KEYCLOAK_URL="https://auth.localhost:$https_port/auth" DEPLOY_USER_SUBDOMAINS="$user_subdomains" \
DEPLOY_ENV_FILE="$deploy_dir/secrets.env" DEPLOY_CA_FILE="$work/localhost.crt" \
  pytest tests -m deploy -q -p no:cacheprovider --screenshot=only-on-failure --output="$logs/smoke"

step "user containers reach the fruit API through Traefik's internal entrypoint"
docker run --rm --network "$project-users" --entrypoint python \
  "jupyterhub-keycloak/singleuser:$image_tag" -c \
  "import urllib.request as u; r = u.urlopen('http://traefik:8001/fruit-api/health', timeout=10); print('fruit API from the users network:', r.status); assert r.status == 200"

step "second run (must change nothing)"
t0=$(date +%s)
playbook 2>&1 | tee "$logs/second-run.log"
second=$(( $(date +%s) - t0 ))
line=$(recap "$logs/second-run.log")
echo "second run: ${second}s; $line"
if ! echo "$line" | grep -qE 'changed=0 .*failed=0'; then
  echo "the second run changed something (expected changed=0):" >&2
  grep -E '^changed:' -A1 "$logs/second-run.log" >&2 || true
  exit 1
fi

step "check mode (--check --diff)"
playbook --check --diff 2>&1 | tee "$logs/check-run.log"
echo "check run: $(recap "$logs/check-run.log")"

step "passed: first run ${first}s, second run changed=0, check mode ok"
