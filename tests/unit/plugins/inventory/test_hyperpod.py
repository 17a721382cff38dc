# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hyperpod inventory plugin, driven the way Ansible drives it, against a SageMaker client stubbed
with botocore's Stubber (which checks every request and response against the real service model)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
import yaml

boto3 = pytest.importorskip('boto3')

from botocore.stub import Stubber  # pylint: disable=wrong-import-position

from ansible import constants as C  # pylint: disable=wrong-import-position
from ansible.errors import AnsibleError, AnsibleParserError  # pylint: disable=wrong-import-position
from ansible.inventory.data import InventoryData  # pylint: disable=wrong-import-position
from ansible.inventory.manager import InventoryManager  # pylint: disable=wrong-import-position
from ansible.parsing.dataloader import DataLoader  # pylint: disable=wrong-import-position
from ansible.plugins.connection import ConnectionBase  # pylint: disable=wrong-import-position
from ansible.plugins.loader import inventory_loader  # pylint: disable=wrong-import-position
from ansible.template import Templar  # pylint: disable=wrong-import-position
from ansible.utils.display import Display  # pylint: disable=wrong-import-position

from ansible_collections.hyperpod.eks_lifecycle.plugins.inventory import hyperpod  # pylint: disable=wrong-import-position


PLUGIN = 'hyperpod.eks_lifecycle.hyperpod'
REGION = 'us-west-2'
NAME = 'ml-cluster'
CLUSTER_ID = 'abcd1234efgh'
ARN = 'arn:aws:sagemaker:us-west-2:123456789012:cluster/%s' % CLUSTER_ID
NAME2 = 'eval-cluster'
CLUSTER_ID2 = 'zyxw9876vuts'
ARN2 = 'arn:aws:sagemaker:us-west-2:123456789012:cluster/%s' % CLUSTER_ID2
LAUNCH = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
LAUNCH_ISO = '2025-03-04T05:06:07+00:00'

AWS_ENV = ('AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ACCESS_KEY_ID',
           'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
           'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ENDPOINT_URL',
           'AWS_ENDPOINT_URL_SAGEMAKER', 'AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE', 'ANSIBLE_INVENTORY_CACHE',
           'ANSIBLE_INVENTORY_CACHE_PLUGIN', 'ANSIBLE_CACHE_PLUGIN', 'ANSIBLE_CACHE_PLUGIN_CONNECTION',
           'ANSIBLE_INVENTORY_CACHE_CONNECTION', 'ANSIBLE_CACHE_PLUGIN_TIMEOUT', 'ANSIBLE_INVENTORY_CACHE_TIMEOUT')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No AWS or cache setting of the machine running the tests leaks in."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'no-aws-config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'no-aws-credentials'))
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')


@pytest.fixture
def client():
    return boto3.client('sagemaker', region_name=REGION, aws_access_key_id='x', aws_secret_access_key='y')


@pytest.fixture
def stubber(client):
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def instance_id(number):
    return 'i-%017x' % number


def node(number, group='worker', itype='ml.p5.48xlarge', status='Running', dns=True, launch=LAUNCH):
    summary = {
        'InstanceGroupName': group,
        'InstanceId': instance_id(number),
        'InstanceType': itype,
        'LaunchTime': launch,
        'InstanceStatus': {'Status': status, 'Message': ''},
    }
    if dns:
        summary['PrivateDnsHostname'] = 'ip-10-1-%d-%d.us-west-2.compute.internal' % (number // 256, number % 256)
    return summary


def expect_cluster(stub, requested=NAME, name=NAME, arn=ARN):
    stub.add_response('describe_cluster',
                      {'ClusterArn': arn, 'ClusterName': name, 'ClusterStatus': 'InService', 'InstanceGroups': []},
                      {'ClusterName': requested})


def expect_nodes(stub, pages, arn=ARN):
    """Queue ListClusterNodes pages for the paginator: page N carries NextToken tN unless it is the last."""
    for index, page in enumerate(pages):
        params = {'ClusterName': arn, 'MaxResults': 100}
        if index:
            params['NextToken'] = 't%d' % index
        response = {'ClusterNodeSummaries': page}
        if index < len(pages) - 1:
            response['NextToken'] = 't%d' % (index + 1)
        stub.add_response('list_cluster_nodes', response, params)


def write_config(tmp_path, filename='fleet.hyperpod.yml', **options):
    config = {'plugin': PLUGIN, 'clusters': [NAME], 'region': REGION}
    config.update(options)
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(config))
    return str(path)


def load_plugin(client=None):
    plugin = inventory_loader.get(PLUGIN)
    assert isinstance(plugin, hyperpod.InventoryModule)
    if client is not None:
        plugin._client = lambda: client
    return plugin


def parse(path, client, cache=True):
    """Parse PATH as InventoryManager does: parse(), then update_cache_if_changed()."""
    inventory = InventoryData()
    plugin = load_plugin(client)
    plugin.parse(inventory, DataLoader(), path, cache=cache)
    plugin.update_cache_if_changed()
    inventory.reconcile_inventory()
    return inventory


def run(tmp_path, client, **options):
    return parse(write_config(tmp_path, **options), client)


def hostvars(inventory, name):
    """The host's own variables, without the inventory_file and inventory_dir InventoryData adds."""
    return dict((k, v) for k, v in inventory.get_host(name).vars.items() if k not in ('inventory_file', 'inventory_dir'))


def hostnames(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


def error_of(tmp_path, client, **options):
    with pytest.raises(AnsibleError) as caught:
        run(tmp_path, client, **options)
    message = str(caught.value)
    assert '\n' not in message
    assert 'Traceback' not in message
    return message


# ------------------------------------------------------------------------------------------ verify_file

@pytest.mark.parametrize('filename, accepted', [
    ('x.hyperpod.yml', True),
    ('x.hyperpod.yaml', True),
    ('hyperpod.yml', True),
    ('x.yml', False),
    ('x.aws_ec2.yml', False),
    ('x.hyperpod.json', False),
])
def test_verify_file(tmp_path, filename, accepted):
    path = tmp_path / filename
    path.write_text('plugin: %s\n' % PLUGIN)
    assert load_plugin().verify_file(str(path)) is accepted


def test_verify_file_missing(tmp_path):
    assert load_plugin().verify_file(str(tmp_path / 'absent.hyperpod.yml')) is False


# ---------------------------------------------------------------------------------------------- listing

def test_two_pages_of_nodes(tmp_path, client, stubber):
    nodes = [node(n) for n in range(155)]
    expect_cluster(stubber)
    expect_nodes(stubber, [nodes[:100], nodes[100:]])

    inventory = run(tmp_path, client)

    assert sorted(inventory.hosts) == sorted(instance_id(n) for n in range(155))
    first = instance_id(0)
    assert hostvars(inventory, first) == {
        'hyperpod_cluster_name': NAME,
        'hyperpod_cluster_arn': ARN,
        'hyperpod_cluster_id': CLUSTER_ID,
        'hyperpod_instance_group': 'worker',
        'hyperpod_instance_id': first,
        'hyperpod_instance_type': 'ml.p5.48xlarge',
        'hyperpod_status': 'Running',
        'hyperpod_launch_time': LAUNCH_ISO,
        'hyperpod_private_dns': 'ip-10-1-0-0.us-west-2.compute.internal',
        'hyperpod_ssm_target': 'sagemaker-cluster:%s_worker-%s' % (CLUSTER_ID, first),
        'hyperpod_k8s_node_name': 'hyperpod-%s' % first,
        'ansible_host': first,
        'ansible_ssh_common_args': (
            "-o 'ProxyCommand=aws ssm start-session --region us-west-2 --target sagemaker-cluster:%s_worker-%s "
            "--document-name AWS-StartSSHSession --parameters portNumber=%%p'" % (CLUSTER_ID, first)),
    }
    assert proxy_argv(tmp_path, hostvars(inventory, first)) == intended_argv('sagemaker-cluster:%s_worker-%s' % (CLUSTER_ID, first))
    last = hostvars(inventory, instance_id(154))
    assert last['hyperpod_ssm_target'] == 'sagemaker-cluster:abcd1234efgh_worker-%s' % instance_id(154)
    assert NAME not in last['hyperpod_ssm_target']
    # Plain data only: the variables survive JSON.
    assert json.loads(json.dumps(hostvars(inventory, first))) == hostvars(inventory, first)


def test_launch_time_is_utc_iso_and_missing_dns_is_null(tmp_path, client, stubber):
    eastern = timezone(timedelta(hours=-5))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1, dns=False, launch=datetime(2025, 3, 4, 0, 6, 7, tzinfo=eastern))]])

    inventory = run(tmp_path, client)

    host = hostvars(inventory, instance_id(1))
    assert host['hyperpod_launch_time'] == LAUNCH_ISO
    assert host['hyperpod_private_dns'] is None


def test_cluster_given_by_arn(tmp_path, client, stubber):
    expect_cluster(stubber, requested=ARN)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, clusters=[ARN])

    assert hostvars(inventory, instance_id(1))['hyperpod_cluster_name'] == NAME
    assert hostnames(inventory, 'hyperpod_ml_cluster') == [instance_id(1)]


def test_empty_cluster(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[]])

    inventory = run(tmp_path, client)

    assert inventory.hosts == {}
    assert 'hyperpod' in inventory.groups


# ---------------------------------------------------------------------------------------------- filters

STATUS_NODES = [
    node(1, status='Running'),
    node(2, status='Failure'),
    node(3, status='Pending'),
    node(4, status='ShuttingDown'),
    node(5, status='SystemUpdating'),
    node(6, status='DeepHealthCheckInProgress'),
    node(7, status='NotFound'),
    node(8, status='Running'),
]


def test_default_status_filter_keeps_running(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [STATUS_NODES])

    inventory = run(tmp_path, client)

    assert sorted(inventory.hosts) == [instance_id(1), instance_id(8)]


def test_custom_status_filter(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [STATUS_NODES])

    inventory = run(tmp_path, client, statuses=['Failure', 'SystemUpdating', 'DeepHealthCheckInProgress'])

    assert sorted(inventory.hosts) == [instance_id(2), instance_id(5), instance_id(6)]
    assert hostvars(inventory, instance_id(2))['hyperpod_status'] == 'Failure'


def test_unknown_status_is_refused(tmp_path, client, stubber):
    message = error_of(tmp_path, client, statuses=['Running', 'Broken'])
    assert 'Broken' in message
    assert 'Running' in message


def test_instance_group_filter(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1, group='worker'), node(2, group='worker-2'), node(3, group='controller'),
                            node(4, group='worker')]])

    inventory = run(tmp_path, client, instance_groups=['worker', 'controller'])

    assert sorted(inventory.hosts) == [instance_id(1), instance_id(3), instance_id(4)]


# ----------------------------------------------------------------------------------------------- groups

def test_groups(tmp_path, client, stubber):
    expect_cluster(stubber, requested='ML-Cluster', name='ML-Cluster')
    expect_nodes(stubber, [[
        node(1, group='gpu-workers', itype='ml.p5.48xlarge'),
        node(2, group='gpu-workers', itype='ml.p5.48xlarge'),
        node(3, group='CPU-ctl', itype='ml.m5.2xlarge'),
    ]])

    inventory = run(tmp_path, client, clusters=['ML-Cluster'])

    everyone = [instance_id(1), instance_id(2), instance_id(3)]
    assert hostnames(inventory, 'hyperpod_ml_cluster') == everyone
    assert hostnames(inventory, 'hyperpod_ig_gpu_workers') == everyone[:2]
    assert hostnames(inventory, 'hyperpod_ig_cpu_ctl') == everyone[2:]
    assert hostnames(inventory, 'hyperpod_type_ml_p5_48xlarge') == everyone[:2]
    assert hostnames(inventory, 'hyperpod_type_ml_m5_2xlarge') == everyone[2:]
    parent = inventory.groups['hyperpod']
    assert sorted(group.name for group in parent.child_groups) == [
        'hyperpod_ig_cpu_ctl', 'hyperpod_ig_gpu_workers', 'hyperpod_ml_cluster',
        'hyperpod_type_ml_m5_2xlarge', 'hyperpod_type_ml_p5_48xlarge']
    assert sorted(host.name for host in parent.get_hosts()) == everyone
    assert 'all' in [group.name for group in parent.parent_groups]


def test_compose_groups_and_keyed_groups(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1, itype='ml.p5.48xlarge'), node(2, itype='ml.g5.8xlarge', group='small'),
                            node(3, itype='ml.p5.48xlarge', status='Failure')]])

    inventory = run(
        tmp_path, client,
        statuses=['Running', 'Failure'],
        compose={'node_name': 'hyperpod_k8s_node_name', 'family': "'p5' if hyperpod_instance_type.startswith('ml.p5') else 'other'"},
        groups={'p5': "hyperpod_instance_type.startswith('ml.p5')", 'broken': "hyperpod_status == 'Failure'"},
        keyed_groups=[{'key': 'hyperpod_status', 'prefix': 'status'},
                      {'key': 'hyperpod_instance_group', 'prefix': '', 'separator': ''},
                      {'key': 'family', 'prefix': 'family'}],
        strict=True,
    )

    assert hostvars(inventory, instance_id(1))['node_name'] == 'hyperpod-%s' % instance_id(1)
    assert hostvars(inventory, instance_id(1))['family'] == 'p5'
    assert hostvars(inventory, instance_id(2))['family'] == 'other'
    assert hostnames(inventory, 'p5') == [instance_id(1), instance_id(3)]
    assert hostnames(inventory, 'broken') == [instance_id(3)]
    assert hostnames(inventory, 'status_Running') == [instance_id(1), instance_id(2)]
    assert hostnames(inventory, 'status_Failure') == [instance_id(3)]
    assert hostnames(inventory, 'small') == [instance_id(2)]
    assert hostnames(inventory, 'family_p5') == [instance_id(1), instance_id(3)]
    assert hostnames(inventory, 'family_other') == [instance_id(2)]


def test_strict_raises_on_bad_compose(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    with pytest.raises(AnsibleError, match='no_such_var'):
        run(tmp_path, client, compose={'x': 'no_such_var.attr'}, strict=True)


def test_not_strict_skips_bad_compose(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, compose={'x': 'no_such_var.attr'}, strict=False)

    assert 'x' not in hostvars(inventory, instance_id(1))


# -------------------------------------------------------------------------------------------- hostnames

@pytest.mark.parametrize('choice, expected', [
    ('instance_id', instance_id(7)),
    ('private_dns', 'ip-10-1-0-7.us-west-2.compute.internal'),
    ('ssm_target', 'sagemaker-cluster:%s_worker-%s' % (CLUSTER_ID, instance_id(7))),
    ('k8s_node_name', 'hyperpod-%s' % instance_id(7)),
])
def test_hostnames(tmp_path, client, stubber, choice, expected):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(7)]])

    inventory = run(tmp_path, client, hostnames=choice)

    assert list(inventory.hosts) == [expected]
    assert hostvars(inventory, expected)['hyperpod_instance_id'] == instance_id(7)
    assert hostnames(inventory, 'hyperpod_ig_worker') == [expected]


def test_private_dns_hostname_falls_back_to_instance_id(tmp_path, client, stubber, monkeypatch):
    warnings = []
    monkeypatch.setattr(Display, 'warning', lambda self, msg, formatted=False: warnings.append(msg))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), node(2, dns=False)]])

    inventory = run(tmp_path, client, hostnames='private_dns')

    assert sorted(inventory.hosts) == sorted(['ip-10-1-0-1.us-west-2.compute.internal', instance_id(2)])
    assert len(warnings) == 1
    assert instance_id(2) in warnings[0]


# ------------------------------------------------------------------------------------------- connection

# An `aws` that writes the arguments it was given, each followed by a NUL, to the file $HP_ARGV.
AWS_STUB = "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$HP_ARGV\"\n"
SHELLS = [shell for shell in ('/bin/sh', 'bash', 'zsh', 'fish') if shutil.which(shell)]
SSH_WHITESPACE = ' \t\r\n'


def intended_argv(target, profile=None, port='22'):
    """The arguments `aws` should get, for the port ssh connects to."""
    argv = ['ssm', 'start-session', '--region', REGION]
    if profile is not None:
        argv.append('--profile=%s' % profile)
    return argv + ['--target', target, '--document-name', 'AWS-StartSSHSession', '--parameters', 'portNumber=%s' % port]


def ssh_quotes_pair_up(text):
    """Whether OpenSSH's argv_split (misc.c) accepts TEXT: readconf.c runs it on the rest of every option line
    since 8.7 and refuses the option ("invalid quotes") where it fails. A backslash escapes a quote, a
    backslash and, outside quotes, a space, even inside single quotes."""
    i, size = 0, len(text)
    while i < size:
        if text[i] in ' \t':
            i += 1
            continue
        if text[i] == '#':
            return True
        quote = None
        while i < size:
            char = text[i]
            if char == '\\':
                if i + 1 < size and (text[i + 1] in '\'"\\' or (quote is None and text[i + 1] == ' ')):
                    i += 1
            elif quote is None and char in ' \t':
                break
            elif quote is None and char in '\'"':
                quote = char
            elif quote is not None and char == quote:
                quote = None
            i += 1
        if i >= size:
            return quote is None
    return True


def ssh_percent_expand(text, tokens):
    """ssh's percent_expand (misc.c): %% is a %, %<key> the key's value, any other % an error."""
    result = []
    chars = iter(text)
    for char in chars:
        if char != '%':
            result.append(char)
            continue
        key = next(chars, None)
        assert key is not None, 'ssh: invalid format (a lone % at the end)'
        assert key == '%' or key in tokens, 'ssh: unknown key %%%s' % key
        result.append('%' if key == '%' else tokens[key])
    return ''.join(result)


def proxy_command_option(common_args):
    """The value of the one `-o ProxyCommand=...` in COMMON_ARGS, split as Ansible's ssh connection plugin
    splits ansible_ssh_common_args before it passes the words to ssh."""
    words = ConnectionBase._split_ssh_args(common_args)
    found = [i for i, word in enumerate(words) if word.startswith('ProxyCommand=')]
    assert len(found) == 1, words
    assert found[0] > 0 and words[found[0] - 1] == '-o', words
    return words[found[0]]


def ssh_command_line(option, host, port='22', user='ec2-user'):
    """What ssh 8.7+ makes of `-o OPTION` (readconf.c, sshconnect.c): the command line it gives the shell."""
    keyword, rest = option.rstrip(SSH_WHITESPACE + '\f').split('=', 1)
    assert keyword == 'ProxyCommand'
    rest = rest.lstrip(SSH_WHITESPACE)
    assert ssh_quotes_pair_up(rest), 'ssh: command-line line 0: invalid quotes: %r' % rest
    value = rest.lstrip(SSH_WHITESPACE + '=')
    return ssh_percent_expand('exec %s' % value, {'h': host, 'k': host, 'n': host, 'p': port, 'r': user})


def stub_aws(tmp_path):
    """A directory holding the `aws` stub, an empty working directory and the file the stub writes."""
    stub_dir = tmp_path / 'stub-bin'
    stub_dir.mkdir(parents=True)
    (stub_dir / 'aws').write_text(AWS_STUB)
    (stub_dir / 'aws').chmod(0o755)
    work = tmp_path / 'work'
    work.mkdir()
    env = dict(os.environ, PATH='%s%s%s' % (stub_dir, os.pathsep, os.environ.get('PATH', '/usr/bin:/bin')),
               HP_ARGV=str(tmp_path / 'argv'))
    return env, work, tmp_path / 'argv'


def read_argv(path):
    data = path.read_bytes()
    assert data.endswith(b'\0') or data == b''
    return [word.decode('utf-8') for word in data.split(b'\0')[:-1]]


def proxy_argv(tmp_path, host, shell='/bin/sh', port='22'):
    """Run the host's ProxyCommand as ssh would, through a real SHELL with `aws` replaced by the stub, and
    return the arguments `aws` got. Fails if the working directory is not empty afterwards."""
    command = ssh_command_line(proxy_command_option(host['ansible_ssh_common_args']), host['ansible_host'], port)
    env, work, output = stub_aws(tmp_path / ('run-%d' % len(list(tmp_path.glob('run-*')))))
    ran = subprocess.run([shutil.which(shell), '-c', command], cwd=str(work), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr
    assert os.listdir(str(work)) == []
    return read_argv(output)


def proxy_command(target, profile=None):
    return ("-o 'ProxyCommand=aws ssm start-session --region us-west-2 %s--target %s "
            "--document-name AWS-StartSSHSession --parameters portNumber=%%p'"
            % ('--profile=%s ' % profile if profile else '', target))


def test_connection_ssh_over_ssm_default(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client)

    host = hostvars(inventory, instance_id(1))
    target = 'sagemaker-cluster:abcd1234efgh_worker-%s' % instance_id(1)
    assert host['ansible_ssh_common_args'] == proxy_command(target)
    assert proxy_argv(tmp_path, host) == intended_argv(target)
    assert host['ansible_host'] == instance_id(1)
    assert 'ansible_user' not in host
    assert 'ansible_connection' not in host


def test_connection_ssh_over_ssm_with_profile_and_user(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, connection='ssh_over_ssm', profile='ops', ssh_user='ec2-user', hostnames='k8s_node_name')

    host = hostvars(inventory, 'hyperpod-%s' % instance_id(1))
    assert host['ansible_ssh_common_args'] == (
        "-o 'ProxyCommand=aws ssm start-session --region us-west-2 --profile=ops "
        "--target sagemaker-cluster:abcd1234efgh_worker-i-00000000000000001 "
        "--document-name AWS-StartSSHSession --parameters portNumber=%p'")
    assert proxy_argv(tmp_path, host) == intended_argv('sagemaker-cluster:abcd1234efgh_worker-i-00000000000000001', profile='ops')
    assert host['ansible_host'] == instance_id(1)
    assert host['ansible_user'] == 'ec2-user'


def test_connection_aws_ssm(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, connection='aws_ssm', ssm_bucket_name='ssm-transfer', profile='ops')

    host = hostvars(inventory, instance_id(1))
    assert host['ansible_connection'] == 'amazon.aws.aws_ssm'
    assert host['ansible_aws_ssm_instance_id'] == 'sagemaker-cluster:abcd1234efgh_worker-%s' % instance_id(1)
    assert host['ansible_aws_ssm_region'] == 'us-west-2'
    assert host['ansible_aws_ssm_bucket_name'] == 'ssm-transfer'
    assert host['ansible_aws_ssm_profile'] == 'ops'
    assert 'ansible_ssh_common_args' not in host
    assert 'ansible_host' not in host


def test_connection_aws_ssm_other_plugin_no_bucket(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, connection='aws_ssm', aws_ssm_plugin='community.aws.aws_ssm', ssh_user='ignored')

    host = hostvars(inventory, instance_id(1))
    assert host['ansible_connection'] == 'community.aws.aws_ssm'
    assert 'ansible_aws_ssm_bucket_name' not in host
    assert 'ansible_aws_ssm_profile' not in host
    assert 'ansible_user' not in host


def test_connection_none(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, connection='none', ssh_user='ec2-user')

    host = hostvars(inventory, instance_id(1))
    assert sorted(host) == sorted([
        'hyperpod_cluster_name', 'hyperpod_cluster_arn', 'hyperpod_cluster_id', 'hyperpod_instance_group',
        'hyperpod_instance_id', 'hyperpod_instance_type', 'hyperpod_status', 'hyperpod_launch_time',
        'hyperpod_private_dns', 'hyperpod_ssm_target', 'hyperpod_k8s_node_name'])


# --------------------------------------------------------------------- quoting: values that must round-trip

# Each must reach `aws` exactly as written, through Ansible's split, ssh's %-expansion and the shell, and do
# nothing on the way (the side effects all land in the empty working directory, which the tests check).
HOSTILE = [
    "it's",
    'say "hi"',
    '$(touch x)',
    '`touch x`',
    'ops; touch x',
    'two words',
    ' padded ',
    '100%',
    '%p',
    '%%',
    '%h %r %n %k %C %d %',
    'back\\slash',
    'trailing\\',
    "\\'",
    '\\"',
    '\\\\',
    "'\"'\"'",
    'ünïcødé-プロファイル-\U0001f600',
    '\u00a0no-break space',
    '{{ lookup("pipe", "touch x") }}',
    '{% raw %}',
    '--debug',
    '#not-a-comment',
    '~root',
    '=true',
    '*',
    '!!',
    '&& touch x',
    '| touch x',
    '> x',
    '$HOME ${HOME}',
]
TARGET = 'sagemaker-cluster:%s_worker-%s' % (CLUSTER_ID, instance_id(1))


def not_templated(value, tmp_path, monkeypatch):
    """Whether Ansible's templating (which runs on every variable a connection plugin reads) leaves VALUE alone."""
    work = tmp_path / 'templar'
    work.mkdir(parents=True)
    monkeypatch.chdir(str(work))
    result = Templar(loader=DataLoader(), variables={}).template(value)
    return result == value and os.listdir(str(work)) == []


@pytest.mark.parametrize('shell', SHELLS)
@pytest.mark.parametrize('profile', HOSTILE)
def test_proxy_command_round_trip(tmp_path, client, stubber, monkeypatch, profile, shell):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    inventory = run(tmp_path, client, profile=profile)

    host = hostvars(inventory, instance_id(1))
    assert proxy_argv(tmp_path, host, shell=shell) == intended_argv(TARGET, profile=profile)
    assert proxy_argv(tmp_path, host, shell=shell, port='2222') == intended_argv(TARGET, profile=profile, port='2222')
    assert not_templated(host['ansible_ssh_common_args'], tmp_path, monkeypatch)


@pytest.mark.skipif(not shutil.which('ssh'), reason='needs the OpenSSH client')
@pytest.mark.parametrize('shell', SHELLS)
@pytest.mark.parametrize('profile', HOSTILE)
def test_proxy_command_through_ssh(tmp_path, client, stubber, profile, shell):
    # The real ssh, given the words as Ansible's ssh connection plugin gives them; the stub exits at once, so
    # ssh fails after running the ProxyCommand.
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    host = hostvars(run(tmp_path, client, profile=profile), instance_id(1))
    env, work, output = stub_aws(tmp_path / 'ssh')
    env['SHELL'] = shutil.which(shell)
    command = ['ssh', '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=/dev/null',
               '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10']
    command += ConnectionBase._split_ssh_args(host['ansible_ssh_common_args'])
    command += ['-p', '2222', host['ansible_host'], 'true']

    ran = subprocess.run(command, cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                         check=False)

    assert output.exists(), ran.stderr
    assert read_argv(output) == intended_argv(TARGET, profile=profile, port='2222')
    assert os.listdir(str(work)) == []


@pytest.mark.parametrize('value', HOSTILE)
def test_user_and_profile_variables_round_trip(tmp_path, client, stubber, monkeypatch, value):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    over_ssh = hostvars(run(tmp_path, client, ssh_user=value), instance_id(1))
    over_ssm = hostvars(run(tmp_path, client, connection='aws_ssm', profile=value), instance_id(1))

    assert over_ssh['ansible_user'] == value
    assert not_templated(over_ssh['ansible_user'], tmp_path / 'user', monkeypatch)
    assert over_ssm['ansible_aws_ssm_profile'] == value
    assert not_templated(over_ssm['ansible_aws_ssm_profile'], tmp_path / 'profile', monkeypatch)


@pytest.mark.parametrize('option', ['profile', 'ssh_user'])
@pytest.mark.parametrize('value, char, offset', [
    ('ops\nx', '000A', 3),
    ('ops\rx', '000D', 3),
    ('\x00ops', '0000', 0),
    ('ops\tx', '0009', 3),
    ('ops\x1b[2J', '001B', 3),
    ('ops\x7f', '007F', 3),
    ('ops\x85', '0085', 3),
    ('ops\u2028x', '2028', 3),
])
def test_control_characters_are_refused(tmp_path, client, stubber, option, value, char, offset):
    message = error_of(tmp_path, client, **{option: value})

    assert message == ('the hyperpod inventory cannot use %s %r: it contains the control character U+%s at offset %d; '
                       '%s must be one line of printable characters' % (option, value, char, offset, option))


def test_control_character_in_aws_profile_is_refused(tmp_path, client, stubber, monkeypatch):
    monkeypatch.setenv('AWS_PROFILE', 'ops\n-o ProxyCommand=x')

    message = error_of(tmp_path, client)

    assert message.startswith("the hyperpod inventory cannot use profile 'ops\\n-o ProxyCommand=x': ")


# ------------------------------------------------------------------------------- identifiers from the API

def capture_warnings(monkeypatch):
    warnings = []
    monkeypatch.setattr(Display, 'warning', lambda self, msg, formatted=False: warnings.append(msg))
    return warnings


BAD_NODES = [
    ('InstanceId', 'i-1234567', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', 'i-000000000000000003', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', 'i-0123456789ABCDEF0', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', 'mi-0123456789abcdef0', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', instance_id(3) + '\n', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', instance_id(3) + '" -o ProxyCommand="touch x', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceId', instance_id(3) + '%p', 'instance id', '^i-[0-9a-f]{8,17}$'),
    ('InstanceGroupName', 'cpu.ctl', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'w"-o ProxyCommand=touch x"', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'worker%p', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'worker;id', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'two words', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', '-worker', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'worker-', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'w' * 64, 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
    ('InstanceGroupName', 'worker\n', 'instance group name', '^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$'),
]


@pytest.mark.parametrize('field, value, what, pattern', BAD_NODES)
def test_node_with_bad_identifier_is_left_out(tmp_path, client, stubber, monkeypatch, field, value, what, pattern):
    warnings = capture_warnings(monkeypatch)
    bad = node(3)
    bad[field] = value
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), bad, node(2)]])

    inventory = run(tmp_path, client)

    assert sorted(inventory.hosts) == [instance_id(1), instance_id(2)]
    assert warnings == ['hyperpod inventory: left out node %r of cluster %r: the %s %r is not %s (%s)' % (
        bad['InstanceId'], NAME, what, value, 'an EC2 instance id' if field == 'InstanceId' else 'a SageMaker instance group name',
        pattern)]
    assert '\n' not in warnings[0]


@pytest.mark.parametrize('field, value, what, pattern', BAD_NODES)
def test_node_with_bad_identifier_is_an_error_with_strict(tmp_path, client, stubber, field, value, what, pattern):
    bad = node(3)
    bad[field] = value
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), bad, node(2)]])

    with pytest.raises(AnsibleParserError) as caught:
        run(tmp_path, client, strict=True)

    message = str(caught.value)
    assert message.startswith('the hyperpod inventory cannot use node %r of cluster %r: the %s %r is not ' % (
        bad['InstanceId'], NAME, what, value))
    assert message.endswith('(%s)' % pattern)


def test_good_identifiers_at_their_limits(tmp_path, client, stubber):
    edge = [node(1, group='a'), node(2, group='A-b--c9'), node(3, group='w' * 63)]
    edge[0]['InstanceId'] = 'i-0123abcd'
    expect_cluster(stubber)
    expect_nodes(stubber, [edge])

    inventory = run(tmp_path, client, strict=True)

    assert sorted(inventory.hosts) == sorted(['i-0123abcd', instance_id(2), instance_id(3)])


@pytest.mark.parametrize('cluster_id', ['ABCD1234EFGH', 'abcd-1234', 'abcd"1234', 'abcd%p', 'abcd;id', 'abcd\n', ''])
def test_cluster_with_bad_id_is_left_out(tmp_path, client, stubber, monkeypatch, cluster_id):
    warnings = capture_warnings(monkeypatch)
    bad_arn = 'arn:aws:sagemaker:us-west-2:123456789012:cluster/%s' % cluster_id
    expect_cluster(stubber, requested=NAME2, name=NAME2, arn=bad_arn)
    expect_nodes(stubber, [[node(1), node(2)]], arn=bad_arn)
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(11)]])

    inventory = run(tmp_path, client, clusters=[NAME2, NAME])

    assert sorted(inventory.hosts) == [instance_id(11)]
    assert 'hyperpod_eval_cluster' not in inventory.groups
    reason = 'the cluster id %r (from the ARN %r) is not a SageMaker cluster id (^[a-z0-9]+$)' % (cluster_id, bad_arn)
    assert warnings == ['hyperpod inventory: left out node %r of cluster %r: %s' % (instance_id(n), NAME2, reason)
                        for n in (1, 2)]


def test_cluster_with_bad_id_is_an_error_with_strict(tmp_path, client, stubber):
    bad_arn = 'arn:aws:sagemaker:us-west-2:123456789012:cluster/abcd"1234'
    expect_cluster(stubber, arn=bad_arn)
    expect_nodes(stubber, [[node(1)]], arn=bad_arn)

    with pytest.raises(AnsibleParserError, match='cluster id .* is not a SageMaker cluster id'):
        run(tmp_path, client, strict=True)


@pytest.mark.parametrize('region', ['us-west-2; touch x', 'US-WEST-2', 'us-west-2\n', 'uswest2', 'us-west-', 'us-west-\u0662'])
def test_bad_region_is_refused(tmp_path, client, stubber, region):
    message = error_of(tmp_path, client, region=region)

    assert message == ('the hyperpod inventory got the AWS region %r, which is not an AWS region name '
                       '(^[a-z]{2}(-[a-z]+)+-\\d+$): check region in the inventory file, AWS_REGION or AWS_DEFAULT_REGION'
                       % region)


def test_bad_region_of_the_profile_is_refused(tmp_path):
    # A region from the AWS profile reaches the plugin through the client; no API call is made.
    local = boto3.client('sagemaker', region_name='local', aws_access_key_id='x', aws_secret_access_key='y')
    path = tmp_path / 'fleet.hyperpod.yml'
    path.write_text(yaml.safe_dump({'plugin': PLUGIN, 'clusters': [NAME]}))
    with Stubber(local):
        with pytest.raises(AnsibleError) as caught:
            parse(str(path), local)
    assert str(caught.value) == (
        "the hyperpod inventory got the AWS region 'local', which is not an AWS region name (^[a-z]{2}(-[a-z]+)+-\\d+$): "
        "check region in the inventory file, AWS_REGION or AWS_DEFAULT_REGION, or the region of the AWS profile")


# ------------------------------------------------------------------------------------------- two clusters

def test_two_clusters(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), node(2, group='controller', itype='ml.m5.xlarge')]])
    expect_cluster(stubber, requested=ARN2, name=NAME2, arn=ARN2)
    expect_nodes(stubber, [[node(11, group='eval')], [node(12, group='eval')]], arn=ARN2)

    inventory = run(tmp_path, client, clusters=[NAME, ARN2])

    assert hostnames(inventory, 'hyperpod_ml_cluster') == [instance_id(1), instance_id(2)]
    assert hostnames(inventory, 'hyperpod_eval_cluster') == [instance_id(11), instance_id(12)]
    assert hostnames(inventory, 'hyperpod_ig_eval') == [instance_id(11), instance_id(12)]
    assert len(inventory.groups['hyperpod'].get_hosts()) == 4
    second = hostvars(inventory, instance_id(12))
    assert second['hyperpod_cluster_name'] == NAME2
    assert second['hyperpod_cluster_arn'] == ARN2
    assert second['hyperpod_cluster_id'] == CLUSTER_ID2
    assert second['hyperpod_ssm_target'] == 'sagemaker-cluster:%s_eval-%s' % (CLUSTER_ID2, instance_id(12))
    assert hostvars(inventory, instance_id(1))['hyperpod_cluster_id'] == CLUSTER_ID


# ------------------------------------------------------------------------------------------------ cache

def cache_options(tmp_path):
    return {'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile', 'cache_connection': str(tmp_path / 'cache'),
            'cache_timeout': 3600}


def everything(inventory):
    return (
        dict((name, hostvars(inventory, name)) for name in inventory.hosts),
        dict((name, sorted(h.name for h in group.get_hosts())) for name, group in inventory.groups.items()),
    )


def test_cache_reuse(tmp_path, client, stubber):
    nodes = [node(n) for n in range(120)]
    expect_cluster(stubber)
    expect_nodes(stubber, [nodes[:100], nodes[100:]])
    path = write_config(tmp_path, keyed_groups=[{'key': 'hyperpod_instance_type', 'prefix': 'type'}], **cache_options(tmp_path))

    first = parse(path, client)
    stubber.assert_no_pending_responses()

    files = os.listdir(str(tmp_path / 'cache'))
    assert len(files) == 1
    with open(os.path.join(str(tmp_path / 'cache'), files[0])) as stored:
        cached = json.load(stored)
    assert cached['region'] == REGION
    assert cached['clusters'][0]['arn'] == ARN
    assert len(cached['clusters'][0]['nodes']) == 120
    assert cached['clusters'][0]['nodes'][0]['LaunchTime'] == LAUNCH_ISO

    # A new plugin and inventory, as in the next ansible run; the stubber has nothing queued and
    # raises on any call, which parse() would let through as an error.
    second = parse(path, client)

    assert everything(second) == everything(first)
    assert len(second.hosts) == 120
    assert hostnames(second, 'type_ml_p5_48xlarge') == sorted(instance_id(n) for n in range(120))


def test_cache_hit_still_filters_and_names(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [STATUS_NODES])
    parse(write_config(tmp_path, **cache_options(tmp_path)), client)

    inventory = parse(write_config(tmp_path, statuses=['Failure', 'Running'], hostnames='k8s_node_name', connection='none',
                                   **cache_options(tmp_path)), client)

    assert sorted(inventory.hosts) == ['hyperpod-%s' % instance_id(n) for n in (1, 2, 8)]
    assert 'ansible_ssh_common_args' not in hostvars(inventory, 'hyperpod-%s' % instance_id(1))


def test_cache_refresh_queries_again(tmp_path, client, stubber):
    path = write_config(tmp_path, **cache_options(tmp_path))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    parse(path, client)

    # meta: refresh_inventory parses with cache=False: query, and store the new result.
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), node(2)]])
    refreshed = parse(path, client, cache=False)
    assert sorted(refreshed.hosts) == [instance_id(1), instance_id(2)]

    again = parse(path, client)
    assert sorted(again.hosts) == [instance_id(1), instance_id(2)]


def test_cache_of_other_clusters_is_not_used(tmp_path, client, stubber):
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    parse(write_config(tmp_path, **cache_options(tmp_path)), client)

    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    expect_cluster(stubber, requested=ARN2, name=NAME2, arn=ARN2)
    expect_nodes(stubber, [[node(11)]], arn=ARN2)
    inventory = parse(write_config(tmp_path, clusters=[NAME, ARN2], **cache_options(tmp_path)), client)

    assert sorted(inventory.hosts) == [instance_id(1), instance_id(11)]


def tamper_cache(tmp_path, change):
    """Apply CHANGE to the one entry of the jsonfile cache, as someone able to write it might."""
    files = os.listdir(str(tmp_path / 'cache'))
    assert len(files) == 1
    stored = tmp_path / 'cache' / files[0]
    entry = json.loads(stored.read_text())
    change(entry)
    stored.write_text(json.dumps(entry))


def test_cache_with_a_bad_region_is_not_used(tmp_path, client, stubber):
    path = tmp_path / 'fleet.hyperpod.yml'
    path.write_text(yaml.safe_dump(dict({'plugin': PLUGIN, 'clusters': [NAME]}, **cache_options(tmp_path))))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    parse(str(path), client)
    tamper_cache(tmp_path, lambda entry: entry.update(region="us-west-2'; touch x"))

    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    inventory = parse(str(path), client)

    assert hostvars(inventory, instance_id(1))['ansible_ssh_common_args'] == proxy_command(TARGET)


def test_cached_node_with_a_bad_identifier_is_left_out(tmp_path, client, stubber, monkeypatch):
    warnings = capture_warnings(monkeypatch)
    path = write_config(tmp_path, **cache_options(tmp_path))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), node(2)]])
    parse(path, client)
    tamper_cache(tmp_path, lambda entry: entry['clusters'][0]['nodes'][1].update(InstanceGroupName='w" -o "ProxyCommand=touch x'))

    inventory = parse(path, client)

    assert sorted(inventory.hosts) == [instance_id(1)]
    assert len(warnings) == 1
    assert warnings[0].startswith("hyperpod inventory: left out node %r of cluster %r: the instance group name " % (instance_id(2), NAME))


def test_cache_disabled_always_queries(tmp_path, client, stubber):
    path = write_config(tmp_path)
    for dummy in range(2):
        expect_cluster(stubber)
        expect_nodes(stubber, [[node(1)]])
        assert list(parse(path, client).hosts) == [instance_id(1)]


# ----------------------------------------------------------------------------------------------- errors

def test_no_credentials(tmp_path):
    # The real client (no stub): no credentials anywhere, so botocore fails before sending anything.
    message = error_of(tmp_path, None, endpoint_url='http://127.0.0.1:9')
    assert message == (
        'the hyperpod inventory found no AWS credentials for sagemaker:DescribeCluster on cluster ml-cluster: '
        'set profile in the inventory file or AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, '
        'or run where an instance or task role applies')


def test_no_region(tmp_path):
    path = tmp_path / 'fleet.hyperpod.yml'
    path.write_text(yaml.safe_dump({'plugin': PLUGIN, 'clusters': [NAME]}))
    with pytest.raises(AnsibleError) as caught:
        parse(str(path), None)
    assert str(caught.value) == (
        'the hyperpod inventory has no AWS region: set region in the inventory file, AWS_REGION or '
        'AWS_DEFAULT_REGION, or a region in the AWS profile')


def test_unknown_profile(tmp_path):
    message = error_of(tmp_path, None, profile='nobody')
    assert message.startswith('the hyperpod inventory could not find the AWS profile: ')
    assert 'nobody' in message


def test_endpoint_unreachable(tmp_path, monkeypatch):
    # The real client again, with credentials, against a closed port: one line, no traceback.
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'x')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'y')
    monkeypatch.setenv('AWS_MAX_ATTEMPTS', '1')

    message = error_of(tmp_path, None, endpoint_url='http://127.0.0.1:9')

    assert message.startswith('sagemaker:DescribeCluster on cluster ml-cluster failed: Could not connect to the endpoint URL')


def test_corrupt_cache_entry_is_replaced(tmp_path, client, stubber):
    path = write_config(tmp_path, **cache_options(tmp_path))
    plugin = load_plugin(client)
    stored = 'ansible_inventory_' + plugin.get_cache_key(path)
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / stored).write_text(json.dumps({'version': 1, 'region': REGION, 'clusters': ['junk']}))
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])

    assert list(parse(path, client).hosts) == [instance_id(1)]
    assert os.listdir(str(tmp_path / 'cache')) == [stored]
    assert json.loads((tmp_path / 'cache' / stored).read_text())['clusters'][0]['arn'] == ARN
    assert list(parse(path, client).hosts) == [instance_id(1)]


def test_access_denied(tmp_path, client, stubber):
    stubber.add_client_error(
        'describe_cluster', service_error_code='AccessDeniedException', http_status_code=400,
        service_message=('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: '
                         'sagemaker:DescribeCluster on resource: %s because no identity-based policy allows '
                         'the sagemaker:DescribeCluster action' % ARN),
        expected_params={'ClusterName': NAME})

    message = error_of(tmp_path, client)

    assert message == (
        'access denied to sagemaker:DescribeCluster on cluster ml-cluster in region us-west-2: '
        'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: sagemaker:DescribeCluster on '
        'resource: %s because no identity-based policy allows the sagemaker:DescribeCluster action' % ARN)


def test_access_denied_listing_nodes(tmp_path, client, stubber):
    expect_cluster(stubber)
    stubber.add_client_error('list_cluster_nodes', service_error_code='AccessDeniedException',
                             service_message='not authorized\nto ListClusterNodes', http_status_code=400)

    message = error_of(tmp_path, client)

    assert message == ('access denied to sagemaker:ListClusterNodes on cluster ml-cluster in region us-west-2: '
                       'not authorized to ListClusterNodes')


@pytest.mark.parametrize('code', ['ThrottlingException', 'ThrottledException'])
def test_throttled(tmp_path, client, stubber, code):
    expect_cluster(stubber)
    stubber.add_response('list_cluster_nodes', {'ClusterNodeSummaries': [node(n) for n in range(100)], 'NextToken': 't1'},
                         {'ClusterName': ARN, 'MaxResults': 100})
    # The second page is throttled (the client's standard retries are used up).
    stubber.add_client_error('list_cluster_nodes', service_error_code=code, service_message='Rate exceeded',
                             http_status_code=400)

    message = error_of(tmp_path, client)

    assert message == ('AWS throttled sagemaker:ListClusterNodes on cluster ml-cluster in region us-west-2 even after '
                       'retries (%s): try again later, or allow more attempts with AWS_MAX_ATTEMPTS' % code)


@pytest.mark.parametrize('code, text', [
    ('ResourceNotFound', 'Cluster with name ml-cluster does not exist'),
    ('ValidationException', 'Cluster ml-cluster not found'),
])
def test_unknown_cluster(tmp_path, client, stubber, code, text):
    stubber.add_client_error('describe_cluster', service_error_code=code, service_message=text, http_status_code=400,
                             expected_params={'ClusterName': NAME})

    assert error_of(tmp_path, client) == 'cluster ml-cluster not found in region us-west-2'


def test_other_client_error(tmp_path, client, stubber):
    stubber.add_client_error('describe_cluster', service_error_code='InternalFailure', service_message='boom',
                             http_status_code=500)

    assert error_of(tmp_path, client) == 'sagemaker:DescribeCluster on cluster ml-cluster failed: InternalFailure: boom'


def test_other_validation_error_is_not_not_found(tmp_path, client, stubber):
    stubber.add_client_error('describe_cluster', service_error_code='ValidationException',
                             service_message='1 validation error detected', http_status_code=400)

    assert error_of(tmp_path, client) == ('sagemaker:DescribeCluster on cluster ml-cluster failed: ValidationException: '
                                          '1 validation error detected')


def test_needs_boto3(tmp_path, monkeypatch):
    monkeypatch.setattr(hyperpod, 'HAS_BOTO3', False)

    assert error_of(tmp_path, None) == 'the hyperpod inventory plugin needs boto3 and botocore'


def test_needs_a_cluster(tmp_path, client, stubber):
    assert error_of(tmp_path, client, clusters=[]) == 'the hyperpod inventory needs at least one cluster name or ARN in clusters'


# ------------------------------------------------------------------------------------------- the client

def test_client_settings(tmp_path, monkeypatch):
    (tmp_path / 'aws-config').write_text('[profile ops]\nregion = eu-west-1\n')
    (tmp_path / 'aws-credentials').write_text('[ops]\naws_access_key_id = x\naws_secret_access_key = y\n')
    monkeypatch.setenv('AWS_CONFIG_FILE', str(tmp_path / 'aws-config'))
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', str(tmp_path / 'aws-credentials'))

    plugin = load_plugin()
    plugin.set_options(direct={'plugin': PLUGIN, 'clusters': [NAME], 'profile': 'ops', 'endpoint_url': 'http://127.0.0.1:9'})
    made = plugin._client()
    assert made.meta.region_name == 'eu-west-1'
    assert made.meta.endpoint_url == 'http://127.0.0.1:9'
    assert made.meta.config.retries['mode'] == 'standard'

    plugin.set_options(direct={'plugin': PLUGIN, 'clusters': [NAME], 'profile': 'ops', 'region': 'us-east-2'})
    made = plugin._client()
    assert made.meta.region_name == 'us-east-2'
    assert made.meta.endpoint_url == 'https://api.sagemaker.us-east-2.amazonaws.com'


def test_region_and_profile_from_environment(tmp_path, client, stubber, monkeypatch):
    monkeypatch.setenv('AWS_REGION', 'us-west-2')
    monkeypatch.setenv('AWS_PROFILE', 'ops')
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1)]])
    path = tmp_path / 'fleet.hyperpod.yml'
    path.write_text(yaml.safe_dump({'plugin': PLUGIN, 'clusters': [NAME]}))

    plugin = load_plugin(client)
    plugin.parse(InventoryData(), DataLoader(), str(path))

    assert plugin.get_option('region') == 'us-west-2'
    assert plugin.get_option('profile') == 'ops'


# ------------------------------------------------------------------------------ through InventoryManager

def test_inventory_manager(tmp_path, client, stubber, monkeypatch):
    monkeypatch.setattr(C, 'INVENTORY_ENABLED', [PLUGIN])
    monkeypatch.setattr(hyperpod.InventoryModule, '_client', lambda self: client)
    expect_cluster(stubber)
    expect_nodes(stubber, [[node(1), node(2, group='controller')]])

    manager = InventoryManager(loader=DataLoader(), sources=[write_config(tmp_path, ssh_user='ec2-user')])

    assert sorted(host.name for host in manager.get_hosts('hyperpod')) == [instance_id(1), instance_id(2)]
    assert [host.name for host in manager.get_hosts('hyperpod_ig_controller')] == [instance_id(2)]
    assert manager.get_host(instance_id(1)).vars['ansible_user'] == 'ec2-user'
