# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd_sandbox_image: the pinned sandbox image present in the running containerd, against a
ctr stand-in that keeps an image store in a file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import stat
import tarfile

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import containerd_sandbox_image
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

REF = 'localhost/kubernetes/pause:3.10'
PINNED = 'io.cri-containerd.pinned=pinned'
ADDRESS = '/run/test/containerd.sock'
PREFIX = '--address %s --namespace k8s.io images' % ADDRESS

# `ctr images ls` of a containerd 1.7 node (columns aligned with spaces; SIZE is two tokens).
CTR_LS = (
    'REF                                                                     TYPE                                    '
    '             DIGEST                                                                  SIZE      PLATFORMS   LABELS\n'
    'localhost/kubernetes/pause:latest                                       application/vnd.docker.distribution.manif'
    'est.v2+json sha256:e11d8195a6c086e236e4bf5d6b052a3ca4dfb59bd4e8c96cb3ad13853a86759b 670.4 KiB linux/amd64 '
    'io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned\n'
    'sha256:56c8abd21f982d56fd92ee7e8fe9800999b6a232f1c2c0b5a364896839d941dc application/vnd.docker.distribution.manif'
    'est.v2+json sha256:e11d8195a6c086e236e4bf5d6b052a3ca4dfb59bd4e8c96cb3ad13853a86759b 670.4 KiB linux/amd64 '
    'io.cri-containerd.image=managed\n'
)

# A ctr stand-in: logs its arguments, keeps "REF LABELS" lines in a store file. An archive is a tar
# whose refs.txt lists the references its import adds (ctr's own naming, CRI's sha256: ID included);
# not a tar: the import fails. BROKEN_TAG: tag does nothing.
FAKE_CTR = r'''#!/bin/sh
printf '%%s\n' "$*" >> '%(log)s'
STORE='%(store)s'
if [ "$1" != --address ] || [ "$3" != --namespace ]; then echo "bad global flags: $*" >&2; exit 9; fi
shift 4
[ "$1" = images ] || { echo "unknown command $1" >&2; exit 9; }
sub=$2
shift 2
case "$sub" in
  ls)
    printf 'REF%%-40sTYPE%%-30sDIGEST%%-60sSIZE      PLATFORMS   LABELS\n' '' '' ''
    while read -r ref labels; do
      printf '%%-72s %%s %%s 670.4 KiB linux/amd64 %%s\n' "$ref" application/vnd.docker.distribution.manifest.v2+json \
        sha256:e11d8195a6c086e236e4bf5d6b052a3ca4dfb59bd4e8c96cb3ad13853a86759b "$labels"
    done < "$STORE"
    ;;
  import)
    [ "$1" = -- ] || { echo "no -- before the archive" >&2; exit 8; }
    [ -f "$2" ] || { echo "ctr: open $2: no such file or directory" >&2; exit 1; }
    refs=$(tar -xOf "$2" refs.txt 2>/dev/null) || { echo "ctr: unrecognized image format" >&2; exit 1; }
    for ref in $refs; do
      awk -v ref="$ref" '$1 == ref { found = 1 } END { exit !found }' "$STORE" || printf '%%s -\n' "$ref" >> "$STORE"
    done
    ;;
  tag)
    [ "$1" = -- ] || { echo "no -- before the references" >&2; exit 8; }
    labels=$(awk -v ref="$2" '$1 == ref { print $2; found = 1 } END { exit !found }' "$STORE") || {
      echo "ctr: image \"$2\": not found" >&2; exit 1; }
    [ -e '%(broken_tag)s' ] || printf '%%s %%s\n' "$3" "$labels" >> "$STORE"
    ;;
  label)
    [ "$1" = -- ] || { echo "no -- before the reference" >&2; exit 8; }
    awk -v ref="$2" -v label="$3" '$1 == ref { $2 = ($2 == "-") ? label : $2 "," label } { print }' "$STORE" > "$STORE.new"
    mv "$STORE.new" "$STORE"
    ;;
  *) echo "unknown images command $sub" >&2; exit 7 ;;
esac
'''


class Ctr(object):
    def __init__(self, tmp_path, images=()):
        self.dir = tmp_path
        self.log = tmp_path / 'calls'
        self.store = tmp_path / 'store'
        self.store.write_text(''.join('%s %s\n' % (ref, labels) for ref, labels in images))
        self.path = tmp_path / 'ctr'
        self.path.write_text(FAKE_CTR % dict(log=self.log, store=self.store, broken_tag=tmp_path / 'broken-tag'))
        self.path.chmod(stat.S_IRWXU)

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def images(self):
        return dict(line.split(' ', 1) for line in self.store.read_text().splitlines())

    def archive(self, *refs, **kwargs):
        """A tar that imports REFS; its manifest.json names REPO_TAGS (default REFS), or its index.json
        the references of INDEX ({annotation: value} per manifest) when given."""
        return make_archive(self.dir / 'pause.tar', refs, **kwargs)


def make_archive(path, refs, repo_tags=None, index=None):
    members = {'refs.txt': ''.join('%s\n' % ref for ref in refs)}
    if index is not None:
        members['index.json'] = json.dumps({'schemaVersion': 2, 'manifests': [
            {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': 'sha256:0', 'size': 1,
             'annotations': annotations} for annotations in index]})
    else:
        members['manifest.json'] = json.dumps([{'Config': 'blobs/sha256/1', 'Layers': [],
                                                'RepoTags': list(refs if repo_tags is None else repo_tags)}])
    with tarfile.open(str(path), 'w') as archive:
        for name, text in sorted(members.items()):
            data = text.encode('utf-8')
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture
def run_module(monkeypatch):
    return lambda args: run_main(monkeypatch, containerd_sandbox_image, args)


def module_args(ctr, **overrides):
    args = {'ref': REF, 'ctr': str(ctr.path), 'address': ADDRESS, 'archive': str(ctr.dir / 'pause.tar')}
    args.update(overrides)
    return args


# -- parse_images ------------------------------------------------------------------------------

def test_parse_images_of_real_output():
    assert containerd_sandbox_image.parse_images(CTR_LS) == {
        'localhost/kubernetes/pause:latest': 'io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned',
        'sha256:56c8abd21f982d56fd92ee7e8fe9800999b6a232f1c2c0b5a364896839d941dc': 'io.cri-containerd.image=managed',
    }


def test_parse_images_without_labels_bytes_and_empty_stores():
    unlabelled = CTR_LS.splitlines()[0] + '\n' + \
        'registry.k8s.io/pause:3.10 application/vnd.oci.image.index.v1+json ' \
        'sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a 320.0 KiB linux/amd64 -\n'
    assert containerd_sandbox_image.parse_images(unlabelled) == {'registry.k8s.io/pause:3.10': '-'}
    assert containerd_sandbox_image.parse_images(CTR_LS.encode('utf-8')) == containerd_sandbox_image.parse_images(CTR_LS)
    assert containerd_sandbox_image.parse_images(CTR_LS.splitlines()[0] + '\n') == {}
    assert containerd_sandbox_image.parse_images('') == {}
    assert containerd_sandbox_image.parse_images(CTR_LS + '\n   \n') == containerd_sandbox_image.parse_images(CTR_LS)
    # An image whose platforms are unknown (an empty column) still has its labels read.
    assert containerd_sandbox_image.parse_images('REF TYPE DIGEST SIZE PLATFORMS LABELS\nx/y:1 t sha256:1 1.0 KiB ' + PINNED + '\n') == \
        {'x/y:1': PINNED}


def test_the_fake_ctr_lists_as_ctr_does(tmp_path):
    """The stand-in's `images ls` parses as the real output does."""
    import subprocess
    ctr = Ctr(tmp_path, [(REF, 'io.cri-containerd.image=managed,' + PINNED), ('sha256:abc', '-')])
    out = subprocess.check_output([str(ctr.path), '--address', ADDRESS, '--namespace', 'k8s.io', 'images', 'ls'])
    assert containerd_sandbox_image.parse_images(out) == {REF: 'io.cri-containerd.image=managed,' + PINNED, 'sha256:abc': '-'}


# -- main, end to end ----------------------------------------------------------------------------

def test_present_and_pinned_changes_nothing(run_module, tmp_path):
    ctr = Ctr(tmp_path, [(REF, 'io.cri-containerd.image=managed,' + PINNED)])
    failed, result = run_module(module_args(ctr))
    assert not failed, result
    assert result['changed'] is False
    assert (result['present'], result['imported'], result['pinned']) == (True, [], True)
    assert ctr.calls() == ['%s ls' % PREFIX]


def test_present_but_not_pinned_is_labelled_only(run_module, tmp_path):
    ctr = Ctr(tmp_path, [(REF, 'io.cri-containerd.image=managed'), ('sha256:56c8', 'io.cri-containerd.image=managed')])
    failed, result = run_module(module_args(ctr))  # no archive: none is needed
    assert not failed, result
    assert result['changed'] is True
    assert (result['present'], result['imported'], result['pinned']) == (True, [], True)
    assert ctr.calls() == ['%s ls' % PREFIX, '%s label -- %s %s' % (PREFIX, REF, PINNED), '%s ls' % PREFIX]
    assert ctr.images() == {REF: 'io.cri-containerd.image=managed,' + PINNED, 'sha256:56c8': 'io.cri-containerd.image=managed'}


def test_an_unpinned_image_of_another_tag_does_not_count(run_module, tmp_path):
    ctr = Ctr(tmp_path, [('localhost/kubernetes/pause:latest', PINNED), ('localhost/kubernetes/pause', PINNED)])
    archive = ctr.archive(REF)
    failed, result = run_module(module_args(ctr))
    assert not failed, result
    assert (result['changed'], result['present'], result['imported'], result['pinned']) == (True, False, [REF], True)
    assert ctr.calls() == ['%s ls' % PREFIX, '%s import -- %s' % (PREFIX, archive), '%s ls' % PREFIX,
                           '%s label -- %s %s' % (PREFIX, REF, PINNED), '%s ls' % PREFIX]


def test_missing_and_imported_under_its_name(run_module, tmp_path):
    ctr = Ctr(tmp_path, [('sha256:other', '-')])
    archive = ctr.archive(REF)
    failed, result = run_module(module_args(ctr))
    assert not failed, result
    assert result['changed'] is True
    assert (result['present'], result['imported'], result['pinned']) == (False, [REF], True)
    assert ctr.calls() == [
        '%s ls' % PREFIX,
        '%s import -- %s' % (PREFIX, archive),
        '%s ls' % PREFIX,
        '%s label -- %s %s' % (PREFIX, REF, PINNED),
        '%s ls' % PREFIX,
    ]
    assert ctr.images() == {'sha256:other': '-', REF: PINNED}


def test_missing_and_the_archive_names_another_reference(run_module, tmp_path):
    ctr = Ctr(tmp_path)
    archive = ctr.archive('registry.k8s.io/pause:3.10')
    failed, result = run_module(module_args(ctr))
    assert not failed, result
    assert result['changed'] is True
    assert (result['present'], result['imported'], result['pinned']) == (False, ['registry.k8s.io/pause:3.10', REF], True)
    assert ctr.calls() == [
        '%s ls' % PREFIX,
        '%s import -- %s' % (PREFIX, archive),
        '%s ls' % PREFIX,
        '%s tag -- registry.k8s.io/pause:3.10 %s' % (PREFIX, REF),
        '%s label -- %s %s' % (PREFIX, REF, PINNED),
        '%s ls' % PREFIX,
    ]
    # The archive's own name is kept (nothing is removed); only REF is pinned.
    assert ctr.images() == {'registry.k8s.io/pause:3.10': '-', REF: PINNED}


@pytest.mark.parametrize('imports, kwargs, source', [
    # CRI's image ID comes with the name; the name is tagged from, though "sha256:" sorts first.
    (('xyz.example/pause:3.10', 'sha256:56c8abd21f98'), {}, 'xyz.example/pause:3.10'),
    (('xyz.example/pause:3.10', 'sha256:56c8abd21f98'), {'repo_tags': []}, 'xyz.example/pause:3.10'),
    # The archive's first name, not the first in name order.
    (('registry.k8s.io/pause:3.10', '602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.10'), {},
     'registry.k8s.io/pause:3.10'),
    # ctr names an unqualified RepoTag in full: the import's name is used.
    (('docker.io/library/pause:3.10',), {'repo_tags': ['pause:3.10']}, 'docker.io/library/pause:3.10'),
    # An OCI layout archive.
    (('registry.k8s.io/pause:3.10',),
     {'index': [{'io.containerd.image.name': 'registry.k8s.io/pause:3.10', 'org.opencontainers.image.ref.name': '3.10'}]},
     'registry.k8s.io/pause:3.10'),
])
def test_the_reference_is_tagged_from_the_name_the_archive_gives(run_module, tmp_path, imports, kwargs, source):
    ctr = Ctr(tmp_path)
    archive = ctr.archive(*imports, **kwargs)
    failed, result = run_module(module_args(ctr))
    assert not failed, result
    assert result['imported'] == sorted(imports) + [REF]
    assert ctr.calls()[3] == '%s tag -- %s %s' % (PREFIX, source, REF)
    assert ctr.calls()[1] == '%s import -- %s' % (PREFIX, archive)
    assert ctr.images()[REF] == PINNED


def test_archive_refs(tmp_path):
    docker = make_archive(tmp_path / 'docker.tar', (), repo_tags=['localhost/kubernetes/pause:3.10', 'pause:3.10'])
    assert containerd_sandbox_image.archive_refs(docker) == ['localhost/kubernetes/pause:3.10', 'pause:3.10']
    oci = make_archive(tmp_path / 'oci.tar', (), index=[
        {'io.containerd.image.name': 'registry.k8s.io/pause:3.10', 'org.opencontainers.image.ref.name': '3.10'},
        {'org.opencontainers.image.ref.name': 'localhost/kubernetes/pause:latest'},
        {'org.opencontainers.image.ref.name': 'latest'},  # a bare tag names no image
        {}])
    assert containerd_sandbox_image.archive_refs(oci) == ['registry.k8s.io/pause:3.10', 'localhost/kubernetes/pause:latest']
    assert containerd_sandbox_image.archive_refs(make_archive(tmp_path / 'none.tar', (), repo_tags=[])) == []
    (tmp_path / 'text.tar').write_text('not a tar')
    assert containerd_sandbox_image.archive_refs(str(tmp_path / 'text.tar')) == []
    assert containerd_sandbox_image.archive_refs(str(tmp_path / 'missing.tar')) == []
    with tarfile.open(str(tmp_path / 'broken.tar'), 'w') as archive:
        data = b'[{"RepoTags": ['
        info = tarfile.TarInfo('manifest.json')
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    assert containerd_sandbox_image.archive_refs(str(tmp_path / 'broken.tar')) == []


def test_a_second_run_changes_nothing(run_module, tmp_path):
    ctr = Ctr(tmp_path)
    ctr.archive('registry.k8s.io/pause:3.10')
    assert run_module(module_args(ctr))[1]['changed'] is True
    failed, result = run_module(module_args(ctr))
    assert not failed and result['changed'] is False and result['present'] is True


def test_missing_without_an_archive_fails_naming_both(run_module, tmp_path):
    ctr = Ctr(tmp_path, [('registry.k8s.io/pause:3.8', PINNED)])
    archive = str(tmp_path / 'no-such.tar')
    failed, result = run_module(module_args(ctr, archive=archive))
    assert failed
    assert REF in result['msg'] and archive in result['msg']
    assert result['msg'] == ('the sandbox image %s is not in containerd (namespace k8s.io) and %s, the archive to import it '
                             'from, does not exist: pods cannot start on this node' % (REF, archive))
    assert (result['present'], result['imported'], result['pinned']) == (False, [], False)
    assert ctr.calls() == ['%s ls' % PREFIX]


@pytest.mark.parametrize('refs, imported', [
    ((), []),  # an empty archive
    (('sha256:already',), []),  # only what the store had
    (('sha256:56c8abd21f98',), ['sha256:56c8abd21f98']),  # an image ID, no name to tag from
])
def test_an_import_that_adds_no_name_fails(run_module, tmp_path, refs, imported):
    ctr = Ctr(tmp_path, [('sha256:already', '-')])
    archive = ctr.archive(*refs, repo_tags=[])
    failed, result = run_module(module_args(ctr))
    assert failed
    assert result['msg'] == 'importing %s gave no image to name %s; the sandbox image is still missing' % (archive, REF)
    assert (result['present'], result['imported'], result['pinned']) == (False, imported, False)
    assert ctr.calls() == ['%s ls' % PREFIX, '%s import -- %s' % (PREFIX, archive), '%s ls' % PREFIX]


def test_a_failed_import_fails_with_ctr_message(run_module, tmp_path):
    ctr = Ctr(tmp_path)
    archive = str(tmp_path / 'pause.tar')
    (tmp_path / 'pause.tar').write_text('not a tar')
    failed, result = run_module(module_args(ctr))
    assert failed
    assert result['rc'] == 1
    assert result['msg'] == '%s %s import -- %s failed (rc=1): ctr: unrecognized image format' % (ctr.path, PREFIX, archive)
    assert result['cmd'] == [str(ctr.path), '--address', ADDRESS, '--namespace', 'k8s.io', 'images', 'import', '--', archive]
    assert len(ctr.calls()) == 2


def test_a_tag_that_does_not_take_fails(run_module, tmp_path):
    ctr = Ctr(tmp_path)
    archive = ctr.archive('registry.k8s.io/pause:3.10')
    (tmp_path / 'broken-tag').write_text('')
    failed, result = run_module(module_args(ctr))
    assert failed
    assert result['msg'] == 'the sandbox image %s is still not in containerd after the import of %s' % (REF, archive)
    assert result['imported'] == ['registry.k8s.io/pause:3.10', REF] and result['pinned'] is False


def test_other_namespace_and_default_address(run_module, tmp_path):
    ctr = Ctr(tmp_path, [(REF, PINNED)])
    args = module_args(ctr, namespace='moby')
    del args['address']
    failed, result = run_module(args)
    assert not failed, result
    assert ctr.calls() == ['--address /run/containerd/containerd.sock --namespace moby images ls']


@pytest.mark.parametrize('images, archive_refs, present', [
    ((), (REF,), False),
    (((REF, 'io.cri-containerd.image=managed'),), (), True),
])
def test_check_mode_reports_a_change_and_makes_none(run_module, tmp_path, images, archive_refs, present):
    ctr = Ctr(tmp_path, images)
    ctr.archive(*archive_refs)
    store = ctr.store.read_text()
    failed, result = run_module(dict(module_args(ctr), _ansible_check_mode=True))
    assert not failed, result
    assert result['changed'] is True
    assert (result['present'], result['imported'], result['pinned']) == (present, [], False)
    assert ctr.calls() == ['%s ls' % PREFIX]  # nothing that changes the store
    assert ctr.store.read_text() == store


def test_check_mode_still_fails_without_an_archive(run_module, tmp_path):
    ctr = Ctr(tmp_path)
    failed, result = run_module(dict(module_args(ctr, archive=str(tmp_path / 'none.tar')), _ansible_check_mode=True))
    assert failed and 'does not exist: pods cannot start on this node' in result['msg']


def test_check_mode_when_pinned(run_module, tmp_path):
    ctr = Ctr(tmp_path, [(REF, PINNED)])
    failed, result = run_module(dict(module_args(ctr), _ansible_check_mode=True))
    assert not failed and result['changed'] is False and result['pinned'] is True


@pytest.mark.parametrize('ref', ['', ' ', 'localhost/kubernetes/pause:3.10 ', 'localhost/kubernetes/pause 3.10', 'a\tb', 'a\nb',
                                 '-', '--help', '-localhost/pause'])
def test_a_bad_reference_is_refused_before_ctr_runs(run_module, tmp_path, ref):
    ctr = Ctr(tmp_path, [(REF, PINNED)])
    ctr.archive(REF)
    failed, result = run_module(module_args(ctr, ref=ref))
    assert failed
    assert result['msg'] == 'the sandbox image reference %r is not a reference' % ref
    assert ctr.calls() == []


def test_a_missing_ctr_fails(run_module, tmp_path):
    missing = str(tmp_path / 'bin' / 'ctr')
    failed, result = run_module({'ref': REF, 'ctr': missing})
    assert failed
    assert result['msg'] == '%s does not exist or is not executable' % missing


def test_archive_refs_reads_an_uncompressed_tar_and_small_index_files_only(tmp_path):
    import gzip
    plain = make_archive(tmp_path / 'docker.tar', (), repo_tags=['localhost/kubernetes/pause:3.10'])
    with open(plain, 'rb') as source, gzip.open(str(tmp_path / 'docker.tar.gz'), 'wb') as packed:
        packed.write(source.read())
    # A compressed archive is not what the AMI ships: not opened (no decompression bomb).
    assert containerd_sandbox_image.archive_refs(str(tmp_path / 'docker.tar.gz')) == []
    with tarfile.open(str(tmp_path / 'big.tar'), 'w') as archive:
        data = json.dumps([{'RepoTags': ['localhost/kubernetes/pause:3.10'], 'pad': 'x' * (2 << 20)}]).encode()
        info = tarfile.TarInfo('manifest.json')
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    assert containerd_sandbox_image.archive_refs(str(tmp_path / 'big.tar')) == []


def test_a_reference_by_digest_is_never_tagged_onto_another_image(run_module, tmp_path):
    ref = 'localhost/kubernetes/pause@sha256:' + '1' * 64
    ctr = Ctr(tmp_path)
    ctr.archive('localhost/kubernetes/pause:3.10')
    failed, result = run_module(module_args(ctr, ref=ref))
    assert failed and 'a reference by digest is never tagged onto another image' in result['msg'], result
    assert not any(' tag ' in line for line in ctr.calls())
