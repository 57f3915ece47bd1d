#!/usr/bin/env bash
# The whole portico flow on the embedded local AWS: no account, no Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/portico
export COLUMNS=${COLUMNS:-200}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
trap '$P local down >/dev/null 2>&1 || true' EXIT

step "start the local AWS and deploy template.yaml into it (the stack portico-local), dev and prod on their own hostnames"
$P local down >/dev/null 2>&1 || true
$P local up --domains prod=api.example.com,dev=api.dev.example.com --header-route 'x-api-version:beta*=dev'

step "the services to route: an ECS cluster with three services, as their team would create them"
.venv/bin/python -m scripts.demo_calls services

step "onboard three services by writing registry items"
$P onboard orders  --cluster demo --container-port 8080 --path /orders --auth NONE
$P onboard users   --cluster demo --container-port 8080 --path /users --auth API_KEY --health-check-path /healthz
$P onboard catalog --cluster demo --container-port 3000 --path /shop/catalog --auth IAM --method GET --method POST

step "deliver the registry stream to the stream handler, as Lambda's event source mapping does"
$P local stream --once

step "route table"
$P ls

step "a bad entry is refused with the reason"
$P onboard Orders --cluster demo --container-port 8080 --path /orders || true
$P onboard shadow --cluster demo --container-port 8080 --path /orders/v2 --ecs-service users || true

step "API keys for a third party: a usage-plan tier, the key shown once"
KEY_OUT=$($P keys create acme --plan basic)
echo "$KEY_OUT"
export PORTICO_PROBE_API_KEY=$(tail -n 1 <<<"$KEY_OUT")
$P keys ls

step "promote dev to qa and qa to prod, then roll prod back"
$P promote --from dev --to qa
$P history --stage qa
$P promote --from qa --to prod
$P rollback --stage prod

step "the local ECS agent runs a task per service and registers it; NLB health checks make it healthy"
.venv/bin/python -m scripts.demo_calls wait

step "doctor walks the chain for one service, then sends a real request through the local API Gateway"
$P doctor users
$P doctor orders --probe

step "the live routing as a diagram (Mermaid; an SVG is written too)"
$P graph -o .portico/routes.svg

step "call each route through the local API Gateway → VPC link → NLB port → target group → task"
.venv/bin/python -m scripts.demo_calls call

step "the API on its own hostnames: each Host reaches its stage (prod was rolled back: no orders there), a header rule sends prod's beta callers to dev"
.venv/bin/python -m scripts.demo_calls domains /orders/items/42 x-api-version:beta-1

step "offboard users: portico removes exactly what it created"
$P offboard users
$P local stream --once
$P ls

step "plan: nothing left to change"
$P plan
$P plan --json

step "after one pass the offboarded route is gone from the gateway; the others still answer"
sleep 2
.venv/bin/python -m scripts.demo_calls call /users
