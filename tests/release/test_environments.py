"""Two deployments from one source: production and staging rendered from the same
Terraform modules share no resource name, and staging has the plan's smaller GPU.

Providers cannot be downloaded here, so the provider-free modules that name everything
(infra/topology: names.tf; infra/access: accounts, roles, conditions) are evaluated by
`terraform console` for both deployments, as tests/release/test_infra.py does for one; the
root's resources are checked to take their names from those modules.
"""

from __future__ import annotations

import json
import re

import pytest

import topology
from deploy import environments
from deploy.placeholders import fill
from tests.release.test_infra import INFRA, ROOT, TERRAFORM, _terraform, _tf_text, needs_terraform

PROJECT = "acme-pets"
ENV = {"GOOGLE_CLOUD_PROJECT": PROJECT, "UPLOADS_BUCKET": "acme-pet-uploads", "RESULTS_BUCKET": "acme-pet-results",
       "CACHE_BUCKET": "acme-pet-cache",
       "STORE_ORIGINS": "https://shop.acme-pets.com"}
DEPLOYMENTS = ("production", "staging")


@pytest.fixture(scope="module")
def rendered() -> dict:
    """Per deployment: infra/topology's names and infra/access's accounts and grants, as the root wires them."""
    if TERRAFORM is None:
        pytest.skip("terraform is not installed")
    work = ROOT / ".local" / "tf-environments"
    work.mkdir(parents=True, exist_ok=True)
    blocks = []
    for name in DEPLOYMENTS:
        blocks.append(f'''module "topology_{name}" {{
  source      = "../../infra/topology"
  env         = {json.dumps(ENV)}
  environment = "{name}"
}}
module "access_{name}" {{
  source      = "../../infra/access"
  project     = "{PROJECT}"
  name_suffix = module.topology_{name}.names.suffix
  databases   = module.topology_{name}.names.databases
}}
''')
    (work / "main.tf").write_text("\n".join(blocks))
    init = _terraform("init", "-input=false", "-backend=false", cwd=work)
    assert init.returncode == 0, init.stderr
    outputs = ["accounts", "account_ids", "custom_roles", "project_roles", "sa_roles", "repository_roles",
               "bucket_roles", "topic_roles"]
    expression = "jsonencode({" + ", ".join(
        f'{n} = {{ names = module.topology_{n}.names, '
        + ", ".join(f"{o} = module.access_{n}.{o}" for o in outputs) + " }" for n in DEPLOYMENTS) + "})\n"
    result = _terraform("console", cwd=work, stdin=expression)
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


def _made(deployment: dict) -> dict[str, set[str]]:
    """Every name a deployment's instance gives what it makes, by kind."""
    names = deployment["names"]
    return {
        "buckets": set(names["buckets"].values()),
        "topics": set(names["topics"].values()),
        "subscriptions": set(names["subscriptions"].values()),
        "databases": set(names["databases"].values()),
        "functions (Cloud Run services)": set(names["functions"].values()),
        "GPU service (Cloud Run)": {names["gpu_service"]},
        "alert policies": set(names["alert_policies"].values()),
        "service accounts": {deployment["account_ids"][a] for a in deployment["accounts"]},
        "custom roles": set(deployment["custom_roles"]),
    }


@needs_terraform
def test_the_two_deployments_share_no_resource_name(rendered):
    production, staging = _made(rendered["production"]), _made(rendered["staging"])
    for kind in production:
        assert production[kind] and staging[kind], kind
        assert not production[kind] & staging[kind], f"{kind} shared: {production[kind] & staging[kind]}"
        assert all("staging" in n.lower() for n in staging[kind]), kind
    # Every kind the topology declares has one name per entry (nothing collapsed by the suffix).
    topo = topology.load(env=ENV)
    assert len(production["topics"]) == len(staging["topics"]) == len(topo["topics"])
    assert len(staging["subscriptions"]) == len(topo["subscriptions"])


@needs_terraform
def test_production_keeps_the_names_it_was_created_with(rendered):
    names = rendered["production"]["names"]
    assert names["buckets"] == {"uploads": "acme-pet-uploads", "results": "acme-pet-results",
                                "cache": "acme-pet-cache"}
    assert names["databases"] == {"jobs": "(default)", "ops": "ops"}
    assert names["gpu_service"] == "pet-cutout-gpu" and names["topics"]["segment-requests"] == "segment-requests"
    assert rendered["production"]["account_ids"]["fn-public"] == "fn-public"


@needs_terraform
def test_staging_has_the_plans_smaller_gpu(rendered):
    gpu = rendered["staging"]["names"]["gpu"]
    # The plan's T4 does not exist on Cloud Run (L4 only): topology.yaml says so, with the page.
    assert gpu == {"type": "nvidia-l4", "cpu": 4, "memory_gib": 16, "min_instances": 0, "max_instances": 1}
    assert rendered["production"]["names"]["gpu"]["max_instances"] == 5
    assert "https://cloud.google.com/run/docs/configuring/services/gpu" in (ROOT / "topology.yaml").read_text()


def test_the_staging_service_renders_with_those_values():
    service = fill(ROOT / "deploy" / "service.yaml", ENV, environment="staging")
    template = service["spec"]["template"]
    gpu, collector = template["spec"]["containers"]
    assert service["metadata"]["name"] == "pet-cutout-gpu-staging"
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/minScale"] == "0"
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "1"
    assert template["spec"]["nodeSelector"]["run.googleapis.com/accelerator"] == "nvidia-l4"
    assert template["spec"]["serviceAccountName"] == f"gpu-service-staging@{PROJECT}.iam.gserviceaccount.com"
    mib = lambda v: int(v[:-2]) * (1024 if v.endswith("Gi") else 1)  # noqa: E731
    assert mib(gpu["resources"]["limits"]["memory"]) + mib(collector["resources"]["limits"]["memory"]) == 16 * 1024
    assert int(gpu["resources"]["limits"]["cpu"]) + int(collector["resources"]["limits"]["cpu"]) == 4
    env = {e["name"]: e["value"] for e in gpu["env"]}
    assert env["UPLOADS_BUCKET"] == "acme-pet-uploads-staging" and env["JOB_EVENTS_TOPIC"] == "job-events-staging"
    assert env["JOBS_DATABASE"] == "jobs-staging" and env["GPU_MEMORY_MIB"] == "15360"


def test_production_renders_as_the_file_says_by_default():
    """topology.yaml's production values are service.yaml's defaults: one number each."""
    assert fill(ROOT / "deploy" / "service.yaml", ENV, environment="production") == fill(
        ROOT / "deploy" / "service.yaml", ENV)


@needs_terraform
@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_release_names_things_as_terraform_does(rendered, name):
    tf = rendered[name]["names"]
    env = environments.of(topology.load(env=ENV), name)
    assert tf["suffix"] == env.suffix
    assert tf["buckets"] == {k: env.bucket(k) for k in tf["buckets"]}
    assert tf["topics"] == {t: env.topic(t) for t in tf["topics"]}
    assert tf["functions"] == {f: env.function(f) for f in tf["functions"]}
    assert tf["gpu_service"] == env.gpu_service
    assert tf["databases"] == {"jobs": env.jobs_database, "ops": env.ops_database("ops")}
    assert tf["alert_policies"] == {a: env.alert_policy(a) for a in tf["alert_policies"]}
    assert rendered[name]["account_ids"] == {a: env.account(a) for a in rendered[name]["account_ids"]}


@needs_terraform
def test_stagings_grants_reach_only_staging(rendered):
    staging = rendered["staging"]
    shared = set(environments.SHARED_ACCOUNTS)
    # It makes no release account and grants them nothing project-wide: production's instance does.
    assert not shared & set(staging["accounts"])
    assert not [k for k, g in staging["project_roles"].items() if g["sa"] in shared]
    assert staging["repository_roles"] == {}
    # What it grants the deployer: acting as staging's runtime accounts, nothing else.
    deployer = {g["account"] for g in staging["sa_roles"].values() if g["sa"] == "deployer"}
    assert deployer == set(staging["accounts"]) - {"pubsub-pusher"} - shared
    assert all(staging["account_ids"][a].endswith("-staging") for a in deployer)
    # Every Firestore condition names staging's databases only.
    for key, grant in staging["project_roles"].items():
        if grant["condition"]:
            named = set(re.findall(r"databases/([\w()-]+)", grant["condition"]["expression"]))
            assert named and named <= {"jobs-staging", "ops-staging"}, key
        if grant["role"].startswith("projects/"):
            assert grant["role"].endswith("Staging"), key


def test_the_root_takes_every_name_from_the_naming_modules():
    text = _tf_text()
    for needle in (
        "name                        = local.names.buckets[each.key]",
        "name                       = local.names.topics[each.key]",
        "name                       = local.names.subscriptions[each.key]",
        "name                    = local.names.databases.jobs",
        "name                    = local.names.databases.ops",
        "account_id   = module.access.account_ids[each.key]",
        'secret_id = "${each.key}${local.suffix}"',
        "display_name = local.names.alert_policies[each.key]",
        "function_names = local.names.functions",
        "gpu_service = local.names.gpu_service",
    ):
        assert needle in text, needle
    # No resource of the root is named by a bare literal that a second deployment would repeat.
    assert not re.findall(r'^\s+name\s+=\s+"pet-cutout[\w-]*"\s*$', text, re.M)


def test_each_deployment_has_its_tfvars_and_only_the_plans_differences():
    declared = topology.load(env=ENV)["environments"]
    assert set(declared) == set(DEPLOYMENTS)
    for name, values in declared.items():
        assert set(values) == {"name_suffix", "gpu"}, name
        tfvars = (INFRA / "envs" / f"{name}.tfvars").read_text()
        assert re.search(rf'^environment\s*=\s*"{name}"\s*$', tfvars, re.M), name
    assert "!envs/*.tfvars" in (INFRA / ".gitignore").read_text()


def test_an_unknown_deployment_is_refused():
    with pytest.raises(ValueError, match="unknown environment"):
        environments.of(topology.load(env=ENV), "qa")


def _defined(text: str) -> dict[str, set[str]]:
    locals_ = set()
    for body in re.findall(r"^locals \{\n(.*?)^\}", text, re.S | re.M):
        locals_ |= set(re.findall(r"^  ([a-z_][\w]*)\s*=", body, re.M))
    return {"local": locals_, "var": set(re.findall(r'^variable "(\w+)"', text, re.M)),
            "module": set(re.findall(r'^module "(\w+)"', text, re.M))}


@pytest.mark.parametrize("directory", [INFRA, INFRA / "topology", INFRA / "access"])
def test_every_local_and_variable_referred_to_is_defined(directory):
    """`terraform validate` needs the provider, which cannot be downloaded here: this much
    of it (a renamed or missing local breaks every plan) is checked without one."""
    text = _tf_text(directory)
    defined = _defined(text)
    for kind in ("local", "var", "module"):
        used = set(re.findall(rf"\b{kind}\.(\w+)", re.sub(r"#.*", "", text)))
        assert used <= defined[kind], f"{directory.name}: undefined {kind}: {sorted(used - defined[kind])}"
    # The check can fail.
    assert "owns_shared" in defined["local"] or directory != INFRA


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_the_gpu_services_deterministic_url_exists_for_every_deployment(name):
    # Cloud Run gives one only while "{service}-{project number}" is at most 63 characters;
    # project numbers run to 12 digits.
    env = environments.of(topology.load(), name)
    url = env.gpu_service_url(project_number="123456789012", region="us-central1")
    assert url == f"https://{env.gpu_service}-123456789012.us-central1.run.app"
    base = env.topology["services"]["gpu"]["name"]

    def named_for(segment: int) -> environments.Environment:  # a suffix that makes the segment this long
        return environments.Environment(name=name, suffix="-" + "x" * (segment - len(base) - 14), topology=env.topology)

    longest = named_for(63).gpu_service_url(project_number="123456789012", region="r")
    assert len(longest.removeprefix("https://").split(".")[0]) == 63
    with pytest.raises(ValueError, match="no deterministic URL"):
        named_for(64).gpu_service_url(project_number="123456789012", region="us-central1")
