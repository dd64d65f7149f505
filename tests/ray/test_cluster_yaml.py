"""cluster.yaml passes Ray's own autoscaler schema and says what the design asks for."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_schema(config):
    # What `ray up` does: merge the AWS defaults, then validate against ray-schema.json.
    validate_config(prepare_config(copy.deepcopy(config)))


def test_schema_check_is_real(config):
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = -1
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(broken))


def test_cpu_head_and_autoscaling_gpu_workers(config):
    node_types = config["available_node_types"]
    head = node_types[config["head_node_type"]]
    assert head["node_config"]["InstanceType"] == "m5.large"
    assert head["resources"].get("GPU", 0) == 0
    gpu = node_types["gpu_worker"]
    assert gpu["node_config"]["InstanceType"] == "g5.xlarge"
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1 and gpu["resources"]["GPU"] == 1
    assert config["max_workers"] >= gpu["max_workers"]
    spot = node_types["gpu_worker_spot"]
    assert spot["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    for node_type in node_types.values():  # S3 through an instance profile, never keys
        assert "IamInstanceProfile" in node_type["node_config"]
    assert "AWS_SECRET_ACCESS_KEY" not in (ROOT / "cluster.yaml").read_text()


def test_image_matches_pinned_ray_and_installs_requirements(config):
    pinned = re.search(r"^ray\[[a-z,]*default[a-z,]*\]==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert config["docker"]["image"] == f"rayproject/ray:{pinned}-py311-gpu"
    assert any("pip install" in command and "requirements.txt" in command for command in config["setup_commands"])


def test_dashboard_not_public(config):
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    opened = [(rule["FromPort"], rule["ToPort"]) for rule in config["provider"]["security_group"]["IpPermissions"]]
    assert opened == [(22, 22)]
