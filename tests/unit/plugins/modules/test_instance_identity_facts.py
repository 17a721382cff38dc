# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""instance_identity_facts: the instance ID, type and HyperPod instance group, from files and IMDS (a stand-in)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import instance_identity_facts
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

ID = "i-0123456789abcdef0"
OTHER = "i-0fedcba9876543210"
RESOURCE_CONFIG = {
    "ClusterConfig": {"ClusterArn": "arn:aws:sagemaker:us-west-2:111122223333:cluster/abc", "ClusterName": "ml-cluster"},
    "InstanceGroups": [
        {"Name": "controller", "InstanceType": "ml.m5.xlarge", "Instances": [{"InstanceId": OTHER, "InstanceName": "c-1"}]},
        {"Name": "gpu-workers", "InstanceType": "ml.p5.48xlarge",
         "Instances": [{"InstanceId": "i-0aaaaaaaaaaaaaaaa"}, {"InstanceId": ID, "AgentIpAddress": "10.1.2.3"}]},
    ],
}


class Imds(object):
    """A stand-in for open_url against IMDSv2: the calls it had, and its answers (an exception: the failure)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, url, method="GET", timeout=None, headers=None, **kwargs):
        self.calls.append((method, url.rsplit("/latest/", 1)[1], timeout, dict(headers or {})))
        answer = self.answers.get(url.rsplit("/latest/", 1)[1])
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise IOError("HTTP Error 404: Not Found")
        return Reply(answer)


class Reply(object):
    def __init__(self, text):
        self.text = text

    def read(self):
        return self.text.encode("utf-8")


@pytest.fixture
def node(tmp_path, monkeypatch):
    """Files where the node has them (none written yet), and no network: IMDS answers only when a test says so."""
    class Node(object):
        asset_tag = tmp_path / "board_asset_tag"
        cloud_id = tmp_path / "instance-id"
        product_name = tmp_path / "product_name"
        resource_config = tmp_path / "resource_config.json"
        imds = Imds({})

        def run(self, **args):
            params = {"resource_config": str(self.resource_config), "instance_id_files": [str(self.asset_tag), str(self.cloud_id)],
                      "product_name_file": str(self.product_name), "imds": False, "imds_timeout": 0.5}
            params.update(args)
            failed, result = run_main(monkeypatch, instance_identity_facts, params)
            if failed:
                return result
            assert result["changed"] is False
            return result["ansible_facts"]

        def config(self, data=None):
            self.resource_config.write_text(json.dumps(RESOURCE_CONFIG if data is None else data))

    result = Node()
    monkeypatch.setattr(instance_identity_facts, "open_url", result.imds)
    return result


def identity(facts):
    return (facts["hyperpod_instance_id"], facts["hyperpod_instance_type"], facts["hyperpod_instance_group"],
            facts["hyperpod_instance_identity"])


def test_everything_from_the_firmware_and_the_resource_config(node):
    node.asset_tag.write_text(ID + "\n")
    node.config()
    assert identity(node.run()) == (ID, "ml.p5.48xlarge", "gpu-workers", {
        "id_source": str(node.asset_tag), "type_source": str(node.resource_config), "group_source": str(node.resource_config),
        "reason": ""})
    assert node.imds.calls == []


def test_the_id_files_in_order(node):
    node.asset_tag.write_text(OTHER)
    node.cloud_id.write_text(ID)
    node.config()
    facts = node.run()
    assert (facts["hyperpod_instance_id"], facts["hyperpod_instance_group"]) == (OTHER, "controller")
    assert facts["hyperpod_instance_identity"]["id_source"] == str(node.asset_tag)
    # A board asset tag that is not an instance ID (not a Nitro instance): the next file.
    for junk in ("Default string", "", "i-XYZ", "i-0123", ID + " extra"):
        node.asset_tag.write_text(junk)
        facts = node.run()
        assert facts["hyperpod_instance_id"] == ID
        assert facts["hyperpod_instance_identity"]["id_source"] == str(node.cloud_id)
        assert facts["hyperpod_instance_group"] == "gpu-workers"


def test_the_id_from_imds_when_no_file_has_it(node):
    node.asset_tag.write_text("None")
    node.imds.answers.update({"api/token": "TOKEN", "meta-data/instance-id": ID + "\n", "meta-data/instance-type": "p5.48xlarge"})
    node.config()
    facts = node.run(imds=True)
    assert identity(facts)[:3] == (ID, "ml.p5.48xlarge", "gpu-workers")
    assert facts["hyperpod_instance_identity"]["id_source"] == "imds"
    # IMDSv2: one token, then the token on the request; the type came from the resource config.
    assert node.imds.calls == [
        ("PUT", "api/token", 0.5, {"X-aws-ec2-metadata-token-ttl-seconds": "60"}),
        ("GET", "meta-data/instance-id", 0.5, {"X-aws-ec2-metadata-token": "TOKEN"}),
    ]


def test_imds_disabled(node):
    node.imds.answers.update({"api/token": "TOKEN", "meta-data/instance-id": ID})
    node.config()
    facts = node.run(imds=False)
    assert identity(facts) == ("", "", "", {
        "id_source": "", "type_source": "", "group_source": "",
        "reason": "the instance ID is unknown (%s, %s; IMDS: disabled (imds=false))" % (node.asset_tag, node.cloud_id)})
    assert node.imds.calls == []


def test_imds_unreachable_is_asked_once(node):
    node.imds.answers["api/token"] = IOError("<urlopen error [Errno 101] Network is unreachable>")
    node.config()
    node.product_name.write_text("p5.48xlarge\n")
    facts = node.run(imds=True)
    assert facts["hyperpod_instance_id"] == ""
    assert facts["hyperpod_instance_identity"]["reason"] == (
        "the instance ID is unknown (%s, %s; IMDS: <urlopen error [Errno 101] Network is unreachable>)"
        % (node.asset_tag, node.cloud_id))
    # The type falls back on the firmware without asking again.
    assert (facts["hyperpod_instance_type"], facts["hyperpod_instance_identity"]["type_source"]) == ("p5.48xlarge", str(node.product_name))
    assert [call[1] for call in node.imds.calls] == ["api/token"]


def test_no_resource_config(node):
    node.asset_tag.write_text(ID)
    node.product_name.write_text("p5.48xlarge")
    facts = node.run()
    assert identity(facts) == (ID, "p5.48xlarge", "", {
        "id_source": str(node.asset_tag), "type_source": str(node.product_name), "group_source": "",
        "reason": "no %s" % node.resource_config})


@pytest.mark.parametrize("text", [
    "not json {",
    "",
    "[1, 2]",
    '"InstanceGroups"',
    '{"InstanceGroups": {"Name": "gpu"}}',
    '{"Groups": []}',
])
def test_a_garbled_resource_config(node, text):
    node.asset_tag.write_text(ID)
    node.resource_config.write_text(text)
    facts = node.run()
    assert facts["hyperpod_instance_group"] == ""
    assert facts["hyperpod_instance_identity"]["group_source"] == ""
    assert facts["hyperpod_instance_identity"]["reason"].startswith("%s cannot be read: " % node.resource_config)


def test_a_resource_config_that_is_not_text_or_not_a_file(node):
    node.asset_tag.write_text(ID)
    node.resource_config.write_bytes(b'{"InstanceGroups": [{"Name": "caf\xe9"}]}')
    facts = node.run()
    assert facts["hyperpod_instance_identity"]["reason"].startswith("%s cannot be read: 'utf-8' codec can't decode" % node.resource_config)
    node.resource_config.unlink()
    node.resource_config.mkdir()
    facts = node.run()
    assert facts["hyperpod_instance_identity"]["reason"].startswith("%s cannot be read: " % node.resource_config)
    assert facts["hyperpod_instance_group"] == ""


def test_an_instance_the_resource_config_does_not_list(node):
    node.asset_tag.write_text("i-0bbbbbbbbbbbbbbbb")
    node.config()
    node.product_name.write_text("m5.xlarge")
    facts = node.run()
    assert identity(facts) == ("i-0bbbbbbbbbbbbbbbb", "m5.xlarge", "", {
        "id_source": str(node.asset_tag), "type_source": str(node.product_name), "group_source": "",
        "reason": "%s lists no instance i-0bbbbbbbbbbbbbbbb" % node.resource_config})


def test_odd_entries_of_the_resource_config_are_passed_over(node):
    node.asset_tag.write_text(ID)
    node.config({"InstanceGroups": [
        "not a group",
        {"Name": "", "Instances": [{"InstanceId": ID}]},
        {"Name": "no-instances"},
        {"Name": 7, "Instances": [{"InstanceId": ID}]},
        {"Name": "bad-instances", "Instances": {"InstanceId": ID}},
        {"InstanceGroupName": "workers", "InstanceType": 5, "Instances": ["x", {"InstanceId": ID}]},
    ]})
    facts = node.run()
    assert facts["hyperpod_instance_group"] == "workers"
    assert facts["hyperpod_instance_type"] == ""  # not a string: not a type
    assert facts["hyperpod_instance_identity"]["type_source"] == ""


def test_given_group_and_type_are_taken_as_they_are(node):
    node.asset_tag.write_text(ID)
    node.config()
    node.product_name.write_text("m5.xlarge")
    facts = node.run(instance_group="login", instance_type="ml.g5.xlarge")
    assert identity(facts) == (ID, "ml.g5.xlarge", "login", {
        "id_source": str(node.asset_tag), "type_source": "given", "group_source": "given", "reason": ""})


def test_a_given_type_wins_over_the_resource_configs(node):
    node.asset_tag.write_text(ID)
    node.config()
    facts = node.run(instance_type="ml.p5e.48xlarge")
    assert (facts["hyperpod_instance_group"], facts["hyperpod_instance_type"]) == ("gpu-workers", "ml.p5e.48xlarge")
    assert facts["hyperpod_instance_identity"]["group_source"] == str(node.resource_config)
    assert facts["hyperpod_instance_identity"]["type_source"] == "given"


def test_a_given_group_does_not_need_the_resource_config(node):
    facts = node.run(instance_group="gpu-workers")
    assert (facts["hyperpod_instance_group"], facts["hyperpod_instance_identity"]["group_source"]) == ("gpu-workers", "given")
    assert facts["hyperpod_instance_identity"]["reason"] == ""


def test_the_type_from_imds_before_the_firmware(node):
    node.asset_tag.write_text(ID)
    node.product_name.write_text("m5.xlarge")
    node.imds.answers.update({"api/token": "T", "meta-data/instance-type": "p5.48xlarge"})
    facts = node.run(imds=True)
    assert (facts["hyperpod_instance_type"], facts["hyperpod_instance_identity"]["type_source"]) == ("p5.48xlarge", "imds")
    # An answer that is not a type: the firmware's.
    node.imds.answers["meta-data/instance-type"] = "<html>captive portal</html>"
    facts = node.run(imds=True)
    assert (facts["hyperpod_instance_type"], facts["hyperpod_instance_identity"]["type_source"]) == ("m5.xlarge", str(node.product_name))


@pytest.mark.parametrize("product", ["Standard PC (Q35 + ICH9, 2009)", "", "KVM", "P5.48XLARGE"])
def test_a_product_name_that_is_not_a_type(node, product):
    node.product_name.write_text(product)
    facts = node.run()
    assert (facts["hyperpod_instance_type"], facts["hyperpod_instance_identity"]["type_source"]) == ("", "")


@pytest.mark.parametrize("args, message", [
    ({"instance_group": "../etc"}, "instance_group '../etc' is not an instance group"),
    ({"instance_group": "gpu workers"}, "instance_group 'gpu workers' is not an instance group"),
    ({"instance_group": "x" * 64}, "instance_group '%s' is not an instance group" % ("x" * 64)),
    ({"instance_type": "ml.p5/48xlarge"}, "instance_type 'ml.p5/48xlarge' is not an instance type"),
])
def test_given_values_that_are_not_names(node, args, message):
    result = node.run(**args)
    assert result["failed"] is True
    assert result["msg"] == message


@pytest.mark.parametrize("name", ["../../etc/passwd", "gpu workers", "-lead", "x" * 64, "a/b"])
def test_a_group_name_from_the_resource_config_that_is_not_one_is_not_taken(node, name):
    node.asset_tag.write_text(ID)
    node.config({"InstanceGroups": [{"Name": name, "InstanceType": "ml.p5.48xlarge", "Instances": [{"InstanceId": ID}]}]})
    facts = node.run()
    assert facts["hyperpod_instance_group"] == "" and facts["hyperpod_instance_type"] == ""
    assert "which is not an instance group name" in facts["hyperpod_instance_identity"]["reason"]


def test_an_instance_type_from_the_resource_config_that_is_not_one_is_not_taken(node):
    node.asset_tag.write_text(ID)
    node.config({"InstanceGroups": [{"Name": "gpu", "InstanceType": "../../etc/x", "Instances": [{"InstanceId": ID}]}]})
    facts = node.run()
    assert facts["hyperpod_instance_group"] == "gpu" and facts["hyperpod_instance_type"] == ""


@pytest.mark.parametrize("key,value", [("instance_group", "../x"), ("instance_type", "p5 48xlarge"),
                                       ("instance_type", "../../etc/passwd")])
def test_a_given_group_or_type_that_is_not_one_is_refused(node, key, value):
    result = node.run(**{key: value})
    assert result["failed"] and "is not an instance" in result["msg"]
