"""moto's server with query-string (presigned URL) authentication added, Cognito's sign-in calls
that AWS serves without credentials accepted so, the zones its templates hand out known to EC2,
EBS's data side for local volumes (a snapshot copies its volume's directory), the template's
bucket CORS rules applied, and CORS preflights answered without credentials, as S3 does.

moto 5.2.5 authenticates a request only by its Authorization header: with IAM enforced, a presigned
URL (how restore hands a snapshot to the nodes) fails with an error 500. Here such a request is
verified as S3 does it: the signature is recomputed from the URL with the signer's secret (an IAM
user's key or an assumed role's, the session token taken from the URL), the URL must not have
expired, and then the signer's policies are evaluated like any other request's.
"""

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from moto.core.authorization import ActionAuthenticatorMixin
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.iam import access_control as ac
from moto.server import main


def _query(path):
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


_original_init = ac.IAMRequestBase.__init__


def _init(self, account_id, method, path, data, body, headers, action):
    q = _query(path)
    if "Authorization" not in headers and "X-Amz-Credential" in q:
        self._presigned = q
        headers = dict(headers)
        # What the rest of moto's check reads: the key id (and scope) and the session token.
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={q['X-Amz-Credential']}, SignedHeaders=host, Signature=x"
        )
        if "X-Amz-Security-Token" in q:
            headers["X-Amz-Security-Token"] = q["X-Amz-Security-Token"]
    else:
        self._presigned = None
    _original_init(self, account_id, method, path, data, body, headers, action)


_original_check = ac.IAMRequestBase.check_signature


def _check_signature(self):
    q = self._presigned
    if q is None:
        return _original_check(self)
    signed_at = datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    if datetime.now(timezone.utc) > signed_at + timedelta(seconds=int(q.get("X-Amz-Expires", "0"))):
        self._raise_access_denied()
    parts = urlsplit(self._path)
    unsigned = {k: v for k, v in q.items() if k != "X-Amz-Signature"}
    url = f"http://{self._headers.get('Host', '')}{parts.path}?{urlencode(unsigned)}"
    request = AWSRequest(method=self._method, url=url, headers={"Host": self._headers.get("Host", "")})
    request.context["timestamp"] = q["X-Amz-Date"]
    auth = S3SigV4QueryAuth(
        self._access_key.create_credentials(), "s3", self._region, expires=int(q["X-Amz-Expires"])
    )
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != q["X-Amz-Signature"]:
        self._raise_signature_does_not_match()


ac.IAMRequestBase.__init__ = _init
ac.IAMRequestBase.check_signature = _check_signature

# moto's CloudFormation answers Fn::GetAZs with us-east-1's zones whatever the region (its template
# parser), so the local cluster's subnets, and so its instances, are in "us-east-1a" while EC2 runs in
# another region; EC2 there knows no such zone, and a volume created in it came back with no zone at
# all (placement could then never follow it). A zone name of a region moto knows is found in that
# region's list, as the instances' zones are.
_original_zone = RegionsAndZonesBackend.get_zone_by_name


def _zone_by_name(self, name):
    zone = _original_zone(self, name)
    if zone is None and name:
        for zones in self.zones.values():
            zone = next((z for z in zones if z.name == name), None)
            if zone is not None:
                break
    return zone


RegionsAndZonesBackend.get_zone_by_name = _zone_by_name

# moto's CloudFormation makes a bucket with its encryption and tags only and drops the template's
# CorsConfiguration, so the file drop's page (which PUTs upload parts to the bucket from its own
# origin) was refused by the browser locally. The template's rules are applied as S3's
# PutBucketCors would store them (the XML form moto keeps).
from moto.s3.models import FakeBucket, s3_backends  # noqa: E402
from moto.utilities.utils import get_partition  # noqa: E402

_original_bucket_from_cfn = FakeBucket.create_from_cloudformation_json.__func__


def _bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bucket = _original_bucket_from_cfn(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    rules = cloudformation_json.get("Properties", {}).get("CorsConfiguration", {}).get("CorsRules", [])
    if rules:
        as_xml = []
        for r in rules:
            rule = {"AllowedMethod": r["AllowedMethods"], "AllowedOrigin": r["AllowedOrigins"]}
            if r.get("AllowedHeaders"):
                rule["AllowedHeader"] = r["AllowedHeaders"]
            if r.get("ExposedHeaders"):
                rule["ExposeHeader"] = r["ExposedHeaders"]
            if r.get("MaxAge") is not None:
                rule["MaxAgeSeconds"] = str(r["MaxAge"])
            if r.get("Id"):
                rule["ID"] = r["Id"]
            as_xml.append(rule)
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_cors(bucket_name=resource_name, cors_rules=as_xml)
    return bucket


FakeBucket.create_from_cloudformation_json = classmethod(_bucket_from_cfn)

# A browser's CORS preflight (OPTIONS) carries no credentials, and S3 answers it from the bucket's
# CORS rules alone; moto 5.2.5 authenticates it like any request, so with IAM enforced every
# preflight failed with an error 500 and the file drop's page could send no part.
from moto.s3.exceptions import MissingBucket  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402


def _response_options(self, headers, bucket_name):
    try:
        bucket = self.backend.head_bucket(bucket_name)
    except MissingBucket:
        return 403, {}, ""
    self._set_cors_headers_options(headers, bucket)
    return 200, self.response_headers, ""


S3Response._response_options = _response_options

# A user's own sign-in steps are authorised by Cognito's session or access token, not by IAM (AWS's
# API reference: "Authorization of this API operation is by tokens"); moto 5.2.5 lists only some of
# them as public, so with IAM enforced the others fail unsigned.
for _op in (
    "RespondToAuthChallenge",
    "AssociateSoftwareToken",
    "VerifySoftwareToken",
    "SetUserMFAPreference",
    "ChangePassword",
    "GlobalSignOut",
    "RevokeToken",
):
    _target = f"AWSCognitoIdentityProviderService.{_op}"
    if _target not in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        ActionAuthenticatorMixin.PUBLIC_OPERATIONS.append(_target)

# EBS's data side for the local cluster (DEVCLUSTER_EBS_DIR: its volumes directory, one directory per
# volume id, as local/volumes.ts lays them out): a snapshot copies its volume's data at the moment it
# is taken, and a volume created from a snapshot starts as a copy of it, as EBS does with blocks.
# Each copy is made beside its place and renamed into it, so a half-made copy is never seen.
_EBS_DIR = os.environ.get("DEVCLUSTER_EBS_DIR")


def _copy_volume_data(src, dst, volume_id=None):
    tmp = f"{dst}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if os.path.isdir(os.path.join(src, "fs")):
        # cp -a keeps owners, modes and links; a reflink where the file system has them.
        subprocess.run(["cp", "-a", "--reflink=auto", os.path.join(src, "fs"), tmp], check=True)
    if os.path.isfile(os.path.join(src, "fstype")):
        shutil.copy2(os.path.join(src, "fstype"), tmp)
    if volume_id:
        with open(os.path.join(tmp, ".devcluster-volume"), "w") as f:
            f.write(volume_id + "\n")
    os.rename(tmp, dst)


if _EBS_DIR:
    _original_create_snapshot = EBSBackend.create_snapshot
    _original_create_volume = EBSBackend.create_volume
    _original_delete_snapshot = EBSBackend.delete_snapshot

    def _create_snapshot(self, volume_id, *args, **kwargs):
        snapshot = _original_create_snapshot(self, volume_id, *args, **kwargs)
        src = os.path.join(_EBS_DIR, volume_id)
        if os.path.isfile(os.path.join(src, ".devcluster-volume")):
            os.makedirs(os.path.join(_EBS_DIR, "snapshots"), exist_ok=True)
            _copy_volume_data(src, os.path.join(_EBS_DIR, "snapshots", snapshot.id))
        return snapshot

    def _create_volume(self, *args, **kwargs):
        volume = _original_create_volume(self, *args, **kwargs)
        src = os.path.join(_EBS_DIR, "snapshots", volume.snapshot_id or "-")
        if volume.snapshot_id and os.path.isdir(src):
            _copy_volume_data(src, os.path.join(_EBS_DIR, volume.id), volume.id)
        return volume

    def _delete_snapshot(self, snapshot_id):
        snapshot = _original_delete_snapshot(self, snapshot_id)
        shutil.rmtree(os.path.join(_EBS_DIR, "snapshots", snapshot_id), ignore_errors=True)
        return snapshot

    EBSBackend.create_snapshot = _create_snapshot
    EBSBackend.create_volume = _create_volume
    EBSBackend.delete_snapshot = _delete_snapshot


# moto's /moto-api/data.json (tests read the mail SES "sent" from it) answers 500 once any tracked
# S3 object's `status` raises, as a deleted or multipart part's does (its bucket lookup fails): here
# an attribute that cannot be read is left out, as moto already leaves out one it cannot serialise.
def _model_data(self, request, full_url, headers):
    import json

    from moto.core.model_instances import model_data

    results = {}
    for service in sorted(model_data):
        results[service] = {}
        for name in sorted(model_data[service]):
            results[service][name] = []
            for instance in model_data[service][name].instances_tracked:
                item = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except Exception:
                        continue
                    item[attr] = value
                results[service][name].append(item)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


from moto.moto_api._internal.responses import MotoAPIResponse  # noqa: E402

from moto.moto_api._internal import urls as _moto_api_urls  # noqa: E402

MotoAPIResponse.model_data = _model_data
_moto_api_urls.url_paths["{0}/moto-api/data.json"] = _moto_api_urls.response_instance.model_data

if __name__ == "__main__":
    sys.exit(main())
