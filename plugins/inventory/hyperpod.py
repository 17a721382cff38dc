# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: hyperpod
short_description: Amazon SageMaker HyperPod cluster nodes as an inventory
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
  - The configuration file's name must be C(hyperpod.yml) or C(hyperpod.yaml), or end in
    C(.hyperpod.yml) or C(.hyperpod.yaml).
  - Results can be kept in Ansible's inventory cache. The cache holds the nodes as the API returned them,
    so C(statuses), C(instance_groups), C(hostnames), C(connection) and the constructed options still
    apply when the inventory comes from the cache. A cache entry made for another list of clusters or
    another region is not used.
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
    type: str
    env:
      - name: AWS_REGION
      - name: AWS_DEFAULT_REGION
  profile:
    description:
      - The AWS profile (from the AWS config and credentials files) to use, for the API calls and in the
        connection settings.
      - When unset, boto3's default credential chain applies.
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
        SSH goes through an SSM session. Your public key must be in the node's C(authorized_keys).
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
from datetime import date, datetime, timezone

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

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


def safe_name(name):
    """Lowercase, and every character outside [a-z0-9_] becomes an underscore."""
    return re.sub(r'[^a-z0-9_]', '_', to_native(name).lower())


def one_line(text):
    return ' '.join(to_native(text).split())


def to_iso(value):
    """An ISO 8601 string for a datetime (in UTC), anything else unchanged."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def jsonable(value):
    """The value with every datetime replaced by its ISO 8601 string, so that it survives JSON."""
    if isinstance(value, dict):
        return dict((k, jsonable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return to_iso(value)


def cluster_id_from_arn(arn):
    return arn.rsplit('/', 1)[-1]


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
        region_option = self.get_option('region') or None

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
                nodes.extend(jsonable(node) for node in page.get('ClusterNodeSummaries', []))
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

    def _connection_vars(self, hostvars, region):
        connection = self.get_option('connection')
        profile = self.get_option('profile') or None
        if connection == 'ssh_over_ssm':
            proxy = ['aws', 'ssm', 'start-session', '--region', region]
            if profile:
                proxy += ['--profile', profile]
            proxy += ['--target', hostvars['hyperpod_ssm_target'], '--document-name', 'AWS-StartSSHSession',
                      '--parameters', 'portNumber=%p']
            result = {
                'ansible_host': hostvars['hyperpod_instance_id'],
                'ansible_ssh_common_args': '-o ProxyCommand="%s"' % ' '.join(shlex.quote(word) for word in proxy),
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
                    self.inventory.set_variable(hostname, key, value)

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
