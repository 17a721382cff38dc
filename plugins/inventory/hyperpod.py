# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: hyperpod
short_description: Amazon SageMaker HyperPod cluster nodes as an inventory
version_added: 1.1.0
description:
  - Lists the nodes of one or more SageMaker HyperPod clusters (C(ListClusterNodes)) and adds one host
    per node, with C(hyperpod_*) variables describing it.
  - Groups the hosts by cluster (C(hyperpod_<cluster>)), instance group (C(hyperpod_ig_<group>)) and
    instance type (C(hyperpod_type_<type>)), all children of the group C(hyperpod). Names are lowercased
    and every character outside C([a-z0-9_]) becomes C(_), so C(ml.p5.48xlarge) gives
    C(hyperpod_type_ml_p5_48xlarge).
  - Sets connection variables so that Ansible reaches the nodes through AWS Systems Manager, either
    SSH tunnelled through an SSM session (C(connection=ssh_over_ssm)) or the C(aws_ssm) connection
    plugin (C(connection=aws_ssm)). The SSM target of a HyperPod node is
    C(sagemaker-cluster:<cluster-id>_<instance-group>-<instance-id>), where the cluster id is the last
    segment of the cluster ARN.
  - A node whose identifiers are not what AWS documents never reaches ssh, the SSM target or a host name; it
    is left out with a warning naming the node and the reason, or fails the inventory when O(strict=true).
    The instance id must match C(^i-[0-9a-f]{8,17}$) and the cluster id (from the ARN) C(^[a-z0-9]+$); the
    instance group name must be 1 to 63 letters, digits and hyphens, beginning and ending with a letter or
    a digit.
  - The variables the plugin sets are marked unsafe, so Ansible never evaluates them as templates.
  - The configuration file's name must be C(hyperpod.yml) or C(hyperpod.yaml), or end in
    C(.hyperpod.yml) or C(.hyperpod.yaml).
  - Results can be kept in Ansible's inventory cache. The cache holds the nodes as the API returned them,
    so C(statuses), C(instance_groups), C(hostnames), C(connection) and the constructed options still
    apply when the inventory comes from the cache. A cache entry made for another list of clusters or
    another region, or whose region is not an AWS region name, is not used.
  - Uses only the base classes of ansible-core, so the collection needs neither amazon.aws nor
    community.aws.
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
requirements:
  - boto3 and botocore on the controller.
  - "IAM permissions C(sagemaker:DescribeCluster) and C(sagemaker:ListClusterNodes) on the clusters."
  - To connect, the AWS CLI and the Session Manager plugin on the controller, and C(ssm:StartSession)
    on the cluster.
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it marks the file as a configuration of this plugin.
    type: str
    required: true
    choices: ['hyperpod.eks_lifecycle.hyperpod']
  clusters:
    description:
      - The HyperPod clusters to list, each by its name or its ARN.
    type: list
    elements: str
    required: true
  region:
    description:
      - The AWS region of the clusters.
      - When unset, the region of the AWS profile applies.
      - Wherever it comes from, it must be an AWS region name such as C(us-west-2) or C(us-gov-west-1) - two
        lowercase letters, one or more lowercase words, and a number, joined by hyphens.
    type: str
    env:
      - name: AWS_REGION
      - name: AWS_DEFAULT_REGION
  profile:
    description:
      - The AWS profile (from the AWS config and credentials files) to use, for the API calls and in the
        connection settings.
      - When unset, boto3's default credential chain applies.
      - A name with a control character (a newline, a tab, NUL...) is refused. Any other character is passed
        on unchanged, to boto3 and through the C(ProxyCommand) to the AWS CLI (as C(--profile=<profile>)).
    type: str
    env:
      - name: AWS_PROFILE
  endpoint_url:
    description:
      - The URL of the SageMaker API, to use instead of the regional endpoint (for example a VPC endpoint
        or a test server).
    type: str
  statuses:
    description:
      - Only nodes whose C(InstanceStatus.Status) is in this list become hosts.
    type: list
    elements: str
    default: [Running]
    choices: [Running, Failure, Pending, ShuttingDown, SystemUpdating, DeepHealthCheckInProgress, NotFound]
  instance_groups:
    description:
      - Only nodes of these instance groups (exact names) become hosts.
      - An empty list keeps the nodes of all instance groups.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - What names the hosts.
      - C(instance_id) is the EC2 instance id, for example C(i-0123456789abcdef0).
      - C(private_dns) is the node's C(PrivateDnsHostname); nodes that have none are named by their
        instance id, with a warning.
      - C(ssm_target) is the node's SSM target.
      - C(k8s_node_name) is the name of the node in Kubernetes, C(hyperpod-<instance-id>).
    type: str
    default: instance_id
    choices: [instance_id, private_dns, ssm_target, k8s_node_name]
  connection:
    description:
      - How Ansible reaches the nodes.
      - C(ssh_over_ssm) sets C(ansible_host) to the instance id and C(ansible_ssh_common_args) to a
        C(ProxyCommand) running C(aws ssm start-session) with the document C(AWS-StartSSHSession), so that
        SSH goes through an SSM session. Your public key must be in the node's C(authorized_keys). Every
        argument is quoted for the shell ssh runs the command with (POSIX sh, bash, zsh or fish), and every
        C(%) doubled but that of the port (C(%p)), so that the AWS CLI gets each argument exactly.
      - C(aws_ssm) sets C(ansible_connection) to O(aws_ssm_plugin), C(ansible_aws_ssm_instance_id) to the
        SSM target, C(ansible_aws_ssm_region), and C(ansible_aws_ssm_bucket_name) and
        C(ansible_aws_ssm_profile) when O(ssm_bucket_name) and O(profile) are set.
      - C(none) sets no connection variable, only the C(hyperpod_*) variables.
    type: str
    default: ssh_over_ssm
    choices: [ssh_over_ssm, aws_ssm, none]
  ssh_user:
    description:
      - The user to log in as (C(ansible_user)) with O(connection=ssh_over_ssm).
      - When unset, C(ansible_user) is not set.
      - A name with a control character is refused; any other is set unchanged (and is not templated).
    type: str
  ssm_bucket_name:
    description:
      - The S3 bucket the C(aws_ssm) connection plugin moves files through (C(ansible_aws_ssm_bucket_name)),
        with O(connection=aws_ssm). That plugin needs one.
    type: str
  aws_ssm_plugin:
    description:
      - The connection plugin set as C(ansible_connection) with O(connection=aws_ssm).
    type: str
    default: amazon.aws.aws_ssm
notes:
  - "Each host has these variables: C(hyperpod_cluster_name), C(hyperpod_cluster_arn), C(hyperpod_cluster_id),
    C(hyperpod_instance_group), C(hyperpod_instance_id), C(hyperpod_instance_type), C(hyperpod_status),
    C(hyperpod_launch_time) (ISO 8601, UTC), C(hyperpod_private_dns) (null when the API gives none),
    C(hyperpod_ssm_target) and C(hyperpod_k8s_node_name)."
  - A cluster and an instance group named so that their group names collide (a cluster called C(ig_worker)
    and an instance group called C(worker)) share that group.
"""

EXAMPLES = r"""
# fleet.hyperpod.yml: the running nodes of one cluster, reached by SSH over SSM as ec2-user.
plugin: hyperpod.eks_lifecycle.hyperpod
clusters:
  - ml-cluster
region: us-west-2
ssh_user: ec2-user

# gpu.hyperpod.yml: two clusters, only the worker groups, named as in Kubernetes, with groups by status
# and a group of the p5 nodes.
# plugin: hyperpod.eks_lifecycle.hyperpod
# clusters:
#   - ml-cluster
#   - arn:aws:sagemaker:us-west-2:123456789012:cluster/abcd1234efgh
# region: us-west-2
# profile: ops
# statuses: [Running, SystemUpdating]
# instance_groups: [worker-p5, worker-g6e]
# hostnames: k8s_node_name
# keyed_groups:
#   - key: hyperpod_status
#     prefix: status
# groups:
#   p5: hyperpod_instance_type.startswith('ml.p5')
# compose:
#   node_name: hyperpod_k8s_node_name

# ssm.hyperpod.yml: the aws_ssm connection plugin, inventory cached for 10 minutes in JSON files.
# plugin: hyperpod.eks_lifecycle.hyperpod
# clusters: [ml-cluster]
# connection: aws_ssm
# ssm_bucket_name: my-ssm-transfer-bucket
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/hyperpod-inventory
# cache_timeout: 600
"""

import os
import re
import shlex
import unicodedata
from datetime import date, datetime, timezone

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.text import jsonable, one_line

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )
except ImportError:
    HAS_BOTO3 = False
else:
    HAS_BOTO3 = True


CONFIG_SUFFIXES = ('.hyperpod.yml', '.hyperpod.yaml')
CONFIG_NAMES = ('hyperpod.yml', 'hyperpod.yaml')
STATUSES = ('Running', 'Failure', 'Pending', 'ShuttingDown', 'SystemUpdating', 'DeepHealthCheckInProgress', 'NotFound')
PAGE_SIZE = 100
CACHE_VERSION = 1
PARENT_GROUP = 'hyperpod'

NOT_FOUND_CODES = ('ResourceNotFound', 'ResourceNotFoundException')
ACCESS_DENIED_CODES = ('AccessDeniedException', 'AccessDenied')
THROTTLING_CODES = ('ThrottlingException', 'ThrottledException', 'Throttling', 'TooManyRequestsException',
                    'RequestLimitExceeded')
BAD_CREDENTIALS_CODES = ('UnrecognizedClientException', 'InvalidClientTokenId', 'ExpiredTokenException',
                         'ExpiredToken', 'InvalidSignatureException')

CREDENTIALS_HINT = ('set profile in the inventory file or AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, '
                    'or run where an instance or task role applies')

# The identifiers that go into the SSM target and ansible_host, as AWS documents them (the pattern shown in
# messages, and the same pattern without anchors for re.fullmatch: `$` would also match before a final newline).
INSTANCE_ID = ('^i-[0-9a-f]{8,17}$', re.compile(r'i-[0-9a-f]{8,17}'))
CLUSTER_ID = ('^[a-z0-9]+$', re.compile(r'[a-z0-9]+'))
INSTANCE_GROUP = ('^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$', re.compile(r'[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}'))
REGION = (r'^[a-z]{2}(-[a-z]+)+-\d+$', re.compile(r'[a-z]{2}(-[a-z]+)+-[0-9]+'))

# Shell words left unquoted in the ProxyCommand: nothing any shell expands, and no '=' first (zsh's =cmd).
BARE_WORD = re.compile(r'[A-Za-z0-9_./:-][A-Za-z0-9_./:=-]*')


def safe_name(name):
    """Lowercase, and every character outside [a-z0-9_] becomes an underscore."""
    return re.sub(r'[^a-z0-9_]', '_', to_native(name).lower())


def to_iso(value):
    """An ISO 8601 string for a datetime (in UTC), anything else unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def jsonable_utc(value):
    """The value with every datetime replaced by its ISO 8601 string in UTC, so that it survives JSON."""
    return jsonable(value, convert=to_iso)


def cluster_id_from_arn(arn):
    return arn.rsplit('/', 1)[-1]


def shown(value, limit=100):
    """VALUE for a message: quoted, with control characters escaped, and cut at LIMIT characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def valid(pattern, value):
    return isinstance(value, str) and pattern[1].fullmatch(value) is not None


def control_character(text):
    """The first control character or line break in TEXT, as (offset, character), or None."""
    for offset, char in enumerate(text):
        if unicodedata.category(char) in ('Cc', 'Zl', 'Zp'):
            return offset, char
    return None


def shell_word(word):
    """WORD as one shell word that POSIX sh, bash, zsh and fish all read back unchanged.

    ssh runs the ProxyCommand with the user's $SHELL, not always /bin/sh, and from OpenSSH 8.7 refuses an
    option whose quotes do not pair up by its own rules, in which a backslash escapes a quote even inside
    single quotes. So every quote and backslash stays outside quotes, escaped with a backslash, and
    everything else goes inside single quotes, where none of those shells expands anything.
    """
    if BARE_WORD.fullmatch(word):
        return word
    parts = []
    for run in re.split(r"([\\'])", word):
        if run in ('\\', "'"):
            parts.append('\\' + run)
        elif run:
            parts.append("'%s'" % run)
    return ''.join(parts) or "''"


def ssh_proxy_args(argv, port_prefix):
    """ansible_ssh_common_args with a ProxyCommand running ARGV plus one last word, PORT_PREFIX followed by
    the port ssh connects to.

    The value meets three parsers: Ansible's ssh connection plugin splits the variable with shlex.split, ssh
    expands %-tokens in the ProxyCommand (%% is a literal %), and the shell then parses the command.
    """
    words = [shell_word(word) for word in argv] + [shell_word(port_prefix)]
    command = ' '.join(word.replace('%', '%%') for word in words) + '%p'
    return '-o ' + shlex.quote('ProxyCommand=' + command)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'hyperpod.eks_lifecycle.hyperpod'

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        name = os.path.basename(path)
        return name in CONFIG_NAMES or name.endswith(CONFIG_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        if not HAS_BOTO3:
            raise AnsibleError('the hyperpod inventory plugin needs boto3 and botocore')

        clusters = self._requested_clusters()
        for option in ('profile', 'ssh_user'):
            self._check_one_line(option)
        region_option = self.get_option('region') or None
        if region_option:
            self._check_region(region_option, 'region in the inventory file, AWS_REGION or AWS_DEFAULT_REGION')

        cache_key = self.get_cache_key(path)
        caching = bool(self.get_option('cache'))
        read_cache = caching and cache
        write_cache = caching and not cache

        data = None
        if read_cache:
            try:
                data = self._usable_cache_entry(self._cache[cache_key], clusters, region_option)
            except KeyError:
                data = None
            if data is None:
                write_cache = True
        if data is None:
            data = self._query(clusters)
        if write_cache:
            self._cache[cache_key] = data

        self._populate(data)

    # ----------------------------------------------------------------- options

    def _requested_clusters(self):
        clusters = []
        for cluster in self.get_option('clusters') or []:
            cluster = to_native(cluster).strip() if cluster is not None else ''
            if cluster and cluster not in clusters:
                clusters.append(cluster)
        if not clusters:
            raise AnsibleError('the hyperpod inventory needs at least one cluster name or ARN in clusters')
        return clusters

    def _check_one_line(self, option):
        """Refuse an option with a control character: it has no place in a profile name or a user name, and
        a newline in a command line is where quoting goes wrong. Anything else is passed on unchanged."""
        value = self.get_option(option)
        if not value:
            return
        found = control_character(to_native(value))
        if found:
            raise AnsibleError('the hyperpod inventory cannot use %s %s: it contains the control character U+%04X at '
                               'offset %d; %s must be one line of printable characters'
                               % (option, shown(value), ord(found[1]), found[0], option))

    @staticmethod
    def _check_region(region, origin):
        if not valid(REGION, region):
            raise AnsibleError('the hyperpod inventory got the AWS region %s, which is not an AWS region name (%s): '
                               'check %s' % (shown(region), REGION[0], origin))

    # ------------------------------------------------------------------- cache

    @staticmethod
    def _usable_cache_entry(entry, clusters, region_option):
        """The cached data when it was made for these clusters (and this region, when one is set), else None."""
        if not isinstance(entry, dict) or entry.get('version') != CACHE_VERSION:
            return None
        cached = entry.get('clusters')
        if not isinstance(cached, list) or not all(isinstance(c, dict) for c in cached):
            return None
        if [c.get('requested') for c in cached] != clusters:
            return None
        if region_option and entry.get('region') != region_option:
            return None
        if not valid(REGION, entry.get('region')):
            return None
        return entry

    # --------------------------------------------------------------------- API

    def _client(self):
        """The SageMaker client; the unit tests replace this method."""
        session = boto3.session.Session(profile_name=self.get_option('profile') or None,
                                        region_name=self.get_option('region') or None)
        config = Config(retries={'mode': 'standard'}, user_agent_extra='hyperpod.eks_lifecycle-inventory')
        return session.client('sagemaker', endpoint_url=self.get_option('endpoint_url') or None, config=config)

    def _make_client(self):
        try:
            client = self._client()
        except NoRegionError:
            raise AnsibleError('the hyperpod inventory has no AWS region: set region in the inventory file, '
                               'AWS_REGION or AWS_DEFAULT_REGION, or a region in the AWS profile') from None
        except ProfileNotFound as e:
            raise AnsibleError('the hyperpod inventory could not find the AWS profile: %s' % one_line(e)) from e
        except (BotoCoreError, ValueError) as e:
            raise AnsibleError('the hyperpod inventory could not create a SageMaker client: %s' % one_line(e)) from e
        if not client.meta.region_name:
            raise AnsibleError('the hyperpod inventory has no AWS region: set region in the inventory file, '
                               'AWS_REGION or AWS_DEFAULT_REGION, or a region in the AWS profile')
        self._check_region(client.meta.region_name, 'region in the inventory file, AWS_REGION or AWS_DEFAULT_REGION, '
                                                    'or the region of the AWS profile')
        return client

    def _api_error(self, action, cluster, region, error):
        """One line of text for an exception of an API call."""
        action = 'sagemaker:%s' % action
        if isinstance(error, NoCredentialsError):
            return 'the hyperpod inventory found no AWS credentials for %s on cluster %s: %s' % (action, cluster, CREDENTIALS_HINT)
        if isinstance(error, PartialCredentialsError):
            return 'the hyperpod inventory found incomplete AWS credentials (%s): %s' % (one_line(error), CREDENTIALS_HINT)
        if isinstance(error, ClientError):
            details = error.response.get('Error', {})
            code = to_native(details.get('Code', 'Unknown'))
            message = one_line(details.get('Message', '') or '')
            if code in ACCESS_DENIED_CODES:
                return 'access denied to %s on cluster %s in region %s: %s' % (action, cluster, region, message or code)
            if code in THROTTLING_CODES:
                return ('AWS throttled %s on cluster %s in region %s even after retries (%s): try again later, '
                        'or allow more attempts with AWS_MAX_ATTEMPTS' % (action, cluster, region, code))
            if code in NOT_FOUND_CODES or (code == 'ValidationException' and 'not found' in message.lower()):
                return 'cluster %s not found in region %s' % (cluster, region)
            if code in BAD_CREDENTIALS_CODES:
                return 'AWS rejected the credentials for %s on cluster %s (%s: %s): %s' % (action, cluster, code, message, CREDENTIALS_HINT)
            return '%s on cluster %s failed: %s: %s' % (action, cluster, code, message)
        return '%s on cluster %s failed: %s' % (action, cluster, one_line(error))

    def _describe_cluster(self, client, requested, region):
        try:
            return client.describe_cluster(ClusterName=requested)
        except (BotoCoreError, ClientError) as e:
            raise AnsibleError(self._api_error('DescribeCluster', requested, region, e)) from e

    def _list_nodes(self, client, arn, name, region):
        nodes = []
        try:
            paginator = client.get_paginator('list_cluster_nodes')
            for page in paginator.paginate(ClusterName=arn, PaginationConfig={'PageSize': PAGE_SIZE}):
                nodes.extend(jsonable_utc(node) for node in page.get('ClusterNodeSummaries', []))
        except (BotoCoreError, ClientError) as e:
            raise AnsibleError(self._api_error('ListClusterNodes', name, region, e)) from e
        return nodes

    def _query(self, clusters):
        """Describe each cluster and list its nodes: the data the cache holds."""
        client = self._make_client()
        region = client.meta.region_name
        result = []
        for requested in clusters:
            description = self._describe_cluster(client, requested, region)
            arn = description['ClusterArn']
            cluster_id = cluster_id_from_arn(arn)
            name = description.get('ClusterName') or (cluster_id if requested.startswith('arn:') else requested)
            result.append({
                'requested': requested,
                'name': name,
                'arn': arn,
                'id': cluster_id,
                'nodes': self._list_nodes(client, arn, name, region),
            })
        return {'version': CACHE_VERSION, 'region': region, 'clusters': result}

    # --------------------------------------------------------------- populate

    @staticmethod
    def _host_vars(cluster, node):
        instance_id = node['InstanceId']
        group = node.get('InstanceGroupName')
        return {
            'hyperpod_cluster_name': cluster['name'],
            'hyperpod_cluster_arn': cluster['arn'],
            'hyperpod_cluster_id': cluster['id'],
            'hyperpod_instance_group': group,
            'hyperpod_instance_id': instance_id,
            'hyperpod_instance_type': node.get('InstanceType'),
            'hyperpod_status': (node.get('InstanceStatus') or {}).get('Status'),
            'hyperpod_launch_time': to_iso(node.get('LaunchTime')),
            'hyperpod_private_dns': node.get('PrivateDnsHostname') or None,
            'hyperpod_ssm_target': 'sagemaker-cluster:%s_%s-%s' % (cluster['id'], group, instance_id),
            'hyperpod_k8s_node_name': 'hyperpod-%s' % instance_id,
        }

    @staticmethod
    def _node_problem(cluster, node):
        """Why the node cannot be used, or None: its identifiers go into the SSM target, and its instance id
        into ansible_host, so each must be what AWS documents."""
        if not valid(CLUSTER_ID, cluster.get('id')):
            return 'the cluster id %s (from the ARN %s) is not a SageMaker cluster id (%s)' % (
                shown(cluster.get('id')), shown(cluster.get('arn')), CLUSTER_ID[0])
        if not valid(INSTANCE_ID, node.get('InstanceId')):
            return 'the instance id %s is not an EC2 instance id (%s)' % (shown(node.get('InstanceId')), INSTANCE_ID[0])
        if not valid(INSTANCE_GROUP, node.get('InstanceGroupName')):
            return 'the instance group name %s is not a SageMaker instance group name (%s)' % (
                shown(node.get('InstanceGroupName')), INSTANCE_GROUP[0])
        return None

    def _connection_vars(self, hostvars, region):
        connection = self.get_option('connection')
        profile = self.get_option('profile') or None
        if connection == 'ssh_over_ssm':
            proxy = ['aws', 'ssm', 'start-session', '--region', region]
            if profile:
                # One word, so that a profile starting with '-' is not read as an option of the AWS CLI.
                proxy.append('--profile=%s' % profile)
            proxy += ['--target', hostvars['hyperpod_ssm_target'], '--document-name', 'AWS-StartSSHSession', '--parameters']
            result = {
                'ansible_host': hostvars['hyperpod_instance_id'],
                'ansible_ssh_common_args': ssh_proxy_args(proxy, 'portNumber='),
            }
            if self.get_option('ssh_user'):
                result['ansible_user'] = self.get_option('ssh_user')
            return result
        if connection == 'aws_ssm':
            result = {
                'ansible_connection': self.get_option('aws_ssm_plugin'),
                'ansible_aws_ssm_instance_id': hostvars['hyperpod_ssm_target'],
                'ansible_aws_ssm_region': region,
            }
            if self.get_option('ssm_bucket_name'):
                result['ansible_aws_ssm_bucket_name'] = self.get_option('ssm_bucket_name')
            if profile:
                result['ansible_aws_ssm_profile'] = profile
            return result
        return {}

    def _add_to_group(self, group, hostname, known_groups):
        if group not in known_groups:
            self.inventory.add_group(group)
            self.inventory.add_child(PARENT_GROUP, group)
            known_groups.add(group)
        self.inventory.add_child(group, hostname)

    def _skip(self, cluster, node, problem, strict):
        where = 'node %s of cluster %s' % (shown(node.get('InstanceId')), shown(cluster.get('name')))
        if strict:
            raise AnsibleParserError('the hyperpod inventory cannot use %s: %s' % (where, problem))
        self.display.warning('hyperpod inventory: left out %s: %s' % (where, problem))

    def _populate(self, data):
        statuses = self.get_option('statuses') or []
        for status in statuses:
            if status not in STATUSES:
                raise AnsibleError('the hyperpod inventory got an unknown status %s in statuses: use %s' % (status, ', '.join(STATUSES)))
        instance_groups = self.get_option('instance_groups') or []
        hostnames = self.get_option('hostnames')
        strict = self.get_option('strict')
        compose = self.get_option('compose')
        composed_groups = self.get_option('groups')
        keyed_groups = self.get_option('keyed_groups')
        region = data['region']

        self.inventory.add_group(PARENT_GROUP)
        known_groups = set()
        unnamed = []
        for cluster in data['clusters']:
            for node in cluster['nodes']:
                if not node.get('InstanceId'):
                    continue
                if (node.get('InstanceStatus') or {}).get('Status') not in statuses:
                    continue
                if instance_groups and node.get('InstanceGroupName') not in instance_groups:
                    continue
                problem = self._node_problem(cluster, node)
                if problem:
                    self._skip(cluster, node, problem, strict)
                    continue

                hostvars = self._host_vars(cluster, node)
                hostname = hostvars['hyperpod_%s' % hostnames]
                if not hostname:
                    unnamed.append(hostvars['hyperpod_instance_id'])
                    hostname = hostvars['hyperpod_instance_id']
                hostname = self.inventory.add_host(hostname)

                self._add_to_group('hyperpod_%s' % safe_name(cluster['name']), hostname, known_groups)
                if hostvars['hyperpod_instance_group']:
                    self._add_to_group('hyperpod_ig_%s' % safe_name(hostvars['hyperpod_instance_group']), hostname, known_groups)
                if hostvars['hyperpod_instance_type']:
                    self._add_to_group('hyperpod_type_%s' % safe_name(hostvars['hyperpod_instance_type']), hostname, known_groups)

                hostvars.update(self._connection_vars(hostvars, region))
                for key, value in hostvars.items():
                    # Unsafe, so that Ansible never templates them: each comes from the API, the cache or the
                    # inventory file as data, and a '{{' in it (a profile name, say) must reach ssh unchanged.
                    self.inventory.set_variable(hostname, key, wrap_var(value))

                allvars = self.inventory.get_host(hostname).get_vars()
                self._set_composite_vars(compose, allvars, hostname, strict=strict)
                self._add_host_to_composed_groups(composed_groups, allvars, hostname, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, allvars, hostname, strict=strict)

        if unnamed:
            self.display.warning('hyperpod inventory: %d node(s) have no private DNS name and are named by instance id: %s'
                                 % (len(unnamed), ', '.join(unnamed[:10]) + (', ...' if len(unnamed) > 10 else '')))
        if self.get_option('connection') == 'aws_ssm' and not self.get_option('ssm_bucket_name'):
            self.display.warning('hyperpod inventory: connection aws_ssm is set without ssm_bucket_name; '
                                 'the aws_ssm connection plugin needs an S3 bucket')
