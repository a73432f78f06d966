"""What Keycloak can take: the values of an object read from idp/, checked before anything is
sent, each problem naming the file, the object and the key path.

Two checks. Every value must be JSON that Keycloak stores: mapping keys are strings, no date,
binary or set (YAML has them, JSON has not), no NaN or infinity, no NUL character (the
database refuses it). And a field Keycloak knows must have the JSON type of its
representation (RealmRepresentation, ClientRepresentation, ...): Keycloak answers HTTP 400 to
``enabled: [yes]`` or ``accessTokenLifespan: 5m``, and it would do so half-way through an
apply. Keys Keycloak does not know are left to it.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from apiregistry import Problem, is_object_name

#: Field types: B boolean, I int32, L int64, S string, [S] list of strings, {S} map to strings,
#: {[S]} map to lists of strings, {S|[S]} map to strings or lists of them, {I} map to int32,
#: {B} map to booleans, M mapping, [M] list of mappings; a dict: a list of such mappings.
Schema = dict[str, Any]


def _fields(**by_type: str) -> Schema:
    return {name: kind for kind, names in by_type.items() for name in names.split()}


_TYPE_NAMES = {
    "B": "B",
    "I": "I",
    "L": "L",
    "S": "S",
    "SL": "[S]",
    "SM": "{S}",
    "SLM": "{[S]}",
    "SOrSLM": "{S|[S]}",
    "IM": "{I}",
    "BM": "{B}",
    "M": "M",
    "ML": "[M]",
}


def _schema(**by_type: str) -> Schema:
    return {name: _TYPE_NAMES[kind] for name, kind in _fields(**by_type).items()}


MAPPER = _schema(
    S="id name protocol protocolMapper consentText",
    B="consentRequired appliedByDefault",
    SM="config",
)
CREDENTIAL = _schema(
    S="id type userLabel secretData credentialData value device hashedSaltedValue salt algorithm",
    L="createdDate",
    I="priority hashIterations counter digits period",
    B="temporary",
    M="config",
)
REALM = _schema(
    I="""notBefore refreshTokenMaxReuse accessTokenLifespan accessTokenLifespanForImplicitFlow
    ssoSessionIdleTimeout ssoSessionMaxLifespan ssoSessionIdleTimeoutRememberMe
    ssoSessionMaxLifespanRememberMe offlineSessionIdleTimeout offlineSessionMaxLifespan
    clientSessionIdleTimeout clientSessionMaxLifespan clientOfflineSessionIdleTimeout
    clientOfflineSessionMaxLifespan accessCodeLifespan accessCodeLifespanUserAction
    accessCodeLifespanLogin actionTokenGeneratedByAdminLifespan
    actionTokenGeneratedByUserLifespan oauth2DeviceCodeLifespan oauth2DevicePollingInterval
    maxTemporaryLockouts maxFailureWaitSeconds minimumQuickLoginWaitSeconds
    waitIncrementSeconds maxDeltaTimeSeconds failureFactor otpPolicyInitialCounter
    otpPolicyDigits otpPolicyLookAheadWindow otpPolicyPeriod webAuthnPolicyCreateTimeout
    webAuthnPolicyPasswordlessCreateTimeout""",
    L="quickLoginCheckMilliSeconds eventsExpiration",
    B="""revokeRefreshToken offlineSessionMaxLifespanEnabled enabled registrationAllowed
    registrationEmailAsUsername rememberMe verifyEmail loginWithEmailAllowed
    duplicateEmailsAllowed resetPasswordAllowed editUsernameAllowed bruteForceProtected
    permanentLockout otpPolicyCodeReusable webAuthnPolicyAvoidSameAuthenticatorRegister
    webAuthnPolicyPasswordlessAvoidSameAuthenticatorRegister eventsEnabled adminEventsEnabled
    adminEventsDetailsEnabled internationalizationEnabled userManagedAccessAllowed
    organizationsEnabled adminPermissionsEnabled""",
    S="""id realm displayName displayNameHtml defaultSignatureAlgorithm sslRequired
    passwordPolicy otpPolicyType otpPolicyAlgorithm bruteForceStrategy
    webAuthnPolicyRpEntityName webAuthnPolicyRpId webAuthnPolicyAttestationConveyancePreference
    webAuthnPolicyAuthenticatorAttachment webAuthnPolicyRequireResidentKey
    webAuthnPolicyUserVerificationRequirement webAuthnPolicyPasswordlessRpEntityName
    webAuthnPolicyPasswordlessRpId webAuthnPolicyPasswordlessAttestationConveyancePreference
    webAuthnPolicyPasswordlessAuthenticatorAttachment webAuthnPolicyPasswordlessRequireResidentKey
    webAuthnPolicyPasswordlessUserVerificationRequirement loginTheme accountTheme adminTheme
    emailTheme defaultLocale browserFlow registrationFlow directGrantFlow resetCredentialsFlow
    clientAuthenticationFlow dockerAuthenticationFlow firstBrokerLoginFlow""",
    SL="""defaultGroups otpSupportedApplications webAuthnPolicySignatureAlgorithms
    webAuthnPolicyAcceptableAaguids webAuthnPolicyExtraOrigins
    webAuthnPolicyPasswordlessSignatureAlgorithms webAuthnPolicyPasswordlessAcceptableAaguids
    webAuthnPolicyPasswordlessExtraOrigins defaultDefaultClientScopes
    defaultOptionalClientScopes eventsListeners enabledEventTypes supportedLocales""",
    SM="browserSecurityHeaders smtpServer attributes",
)
CLIENT = {
    **_schema(
        S="""id clientId name description rootUrl adminUrl baseUrl clientAuthenticatorType secret
        registrationAccessToken protocol clientTemplate origin""",
        B="""surrogateAuthRequired enabled alwaysDisplayInConsole bearerOnly consentRequired
        standardFlowEnabled implicitFlowEnabled directAccessGrantsEnabled serviceAccountsEnabled
        authorizationServicesEnabled directGrantsOnly publicClient frontchannelLogout
        fullScopeAllowed useTemplateConfig useTemplateScope useTemplateMappers""",
        I="notBefore nodeReRegistrationTimeout",
        SL="redirectUris webOrigins defaultRoles",
        SM="attributes authenticationFlowBindingOverrides",
        IM="registeredNodes",
        BM="access",
        M="authorizationSettings",
    ),
    "protocolMappers": MAPPER,
}
CLIENT_SCOPE = {
    **_schema(S="id name description protocol", SM="attributes"),
    "protocolMappers": MAPPER,
}
ROLE = _schema(
    S="id name description containerId", B="composite clientRole", M="composites", SLM="attributes"
)
GROUP = _schema(
    S="id name path parentId",
    L="subGroupCount",
    ML="subGroups",
    SLM="attributes clientRoles",
    BM="access",
)
USER = {
    **_schema(
        S="id username firstName lastName email self origin federationLink serviceAccountClientId",
        B="enabled emailVerified totp",
        L="createdTimestamp",
        I="notBefore",
        SL="requiredActions disableableCredentialTypes realmRoles",
        SOrSLM="attributes",
        SLM="clientRoles",
        ML="federatedIdentities clientConsents socialLinks",
        M="applicationRoles access",
    ),
    "credentials": CREDENTIAL,
}

INT_RANGE = {"I": 2**31, "L": 2**63}
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
SCALARS = (str, int, float, bool)


def key_path(path: tuple[Any, ...]) -> str:
    """``attributes['a.b']``, ``credentials[0].value``: where a value is in its object."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        elif isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
            out += f".{key}" if out else key
        else:
            out += f"[{key!r}]"
    return out or "(the whole object)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def json_problems(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(key path, what is wrong) for every value in ``value`` JSON or the database cannot
    hold. Iterative: a long list is no deeper than a short one."""
    found: list[tuple[tuple[Any, ...], str]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, dict):
            for k, item in reversed(list(v.items())):
                if not isinstance(k, str):
                    found.append(
                        (where, f"key {k!r} is a {type(k).__name__}: quote it to make it a string")
                    )
                elif "\x00" in k:
                    found.append((where, f"key {k!r} contains a NUL character"))
                stack.append(((*where, k), item))
        elif isinstance(v, list):
            stack.extend(((*where, i), item) for i, item in reversed(list(enumerate(v))))
        elif isinstance(v, str):
            if "\x00" in v:
                found.append((where, "contains a NUL character"))
        elif isinstance(v, float) and not math.isfinite(v):
            found.append((where, f"{v} is not a number JSON can carry"))
        elif isinstance(v, datetime.date):
            found.append((where, f"{v} is a date or time, not a string: quote it"))
        elif v is not None and not isinstance(v, SCALARS):
            found.append((where, f"{_short(v)} is a {type(v).__name__}, not a JSON value"))
    return found


def _integer(kind: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return "must be a whole number"
    if isinstance(value, str):
        if not INTEGER.fullmatch(value):
            return "must be a whole number (digits only)"
        value = int(value)
    if not -INT_RANGE[kind] <= value < INT_RANGE[kind]:
        return f"is out of range (at most {INT_RANGE[kind] - 1})"
    return None


def _type_problem(kind: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for a field of type ``kind``; None when Keycloak takes
    it (null included: Keycloak leaves the field as it is)."""
    if value is None:
        return None
    if isinstance(kind, dict):  # a list of nested objects
        return None if isinstance(value, list) else "must be a list of mappings"
    if kind == "B":
        ok = isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false")
        )
        return None if ok else "must be true or false"
    if kind in INT_RANGE:
        return _integer(kind, value)
    if kind == "S":
        return None if isinstance(value, SCALARS) else "must be a string"
    if kind == "[S]":
        ok = isinstance(value, list) and all(isinstance(v, SCALARS) for v in value)
        return None if ok else "must be a list of strings (quote values with ': ')"
    if kind in ("M", "[M]"):
        want = dict if kind == "M" else list
        ok = isinstance(value, want) and (want is dict or all(isinstance(v, dict) for v in value))
        return None if ok else f"must be a {'mapping' if kind == 'M' else 'list of mappings'}"
    if not isinstance(value, dict):
        return "must be a mapping"
    for item in value.values():
        if item is None:
            continue
        if kind == "{S}" and not isinstance(item, SCALARS):
            return "must map each key to a string"
        if kind == "{I}" and _integer("I", item):
            return "must map each key to a whole number"
        if kind == "{B}" and not isinstance(item, bool):
            return "must map each key to true or false"
        if kind in ("{[S]}", "{S|[S]}"):
            scalar = isinstance(item, SCALARS) and kind == "{S|[S]}"
            listed = isinstance(item, list) and all(isinstance(v, SCALARS) for v in item)
            if not (scalar or listed):
                return "must map each key to a list of strings (quote values with ': ')"
    return None


def type_problems(
    obj: dict[str, Any], schema: Schema, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], str]]:
    """(key path, what is wrong) for each known field of ``obj`` of the wrong JSON type."""
    found = []
    for key, value in obj.items():
        kind = schema.get(key) if isinstance(key, str) and not key.startswith("_") else None
        if kind is None:
            continue
        problem = _type_problem(kind, value)
        if problem:
            found.append(((*path, key), f"{problem}, got {_short(value)}"))
        elif isinstance(kind, dict) and value:
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    found += type_problems(item, kind, (*path, key, i))
                else:
                    found.append(((*path, key, i), f"must be a mapping, got {_short(item)}"))
    return found


#: Fields Keycloak stores in lowercase whatever it is sent: another case never matches.
LOWERCASE = {"username", "email"}


def own_problems(
    obj: dict[str, Any], schema: Schema, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], str]]:
    """Values a file must not give: an id (Keycloak assigns it: a file's would never match),
    and uppercase in a field Keycloak lowercases (the plan would never be empty)."""
    found = []
    if "id" in obj:
        found.append(
            ((*path, "id"), "is Keycloak's own (given when it creates the object): remove it")
        )
    for key in LOWERCASE & set(schema) & {k for k in obj if isinstance(k, str)}:
        value = obj[key]
        if isinstance(value, str) and value != value.lower():
            found.append(((*path, key), f"Keycloak keeps it in lowercase: write {value.lower()!r}"))
    for key, kind in schema.items():
        items = obj.get(key)
        if isinstance(kind, dict) and isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    found += own_problems(item, kind, (*path, key, i))
    return found


def check(
    obj: dict[str, Any], schema: Schema, file: str, what: str, problems: list[Problem]
) -> bool:
    """Add a problem for each value of ``obj`` Keycloak cannot take; True when there is none."""
    found = json_problems(obj)
    known = {path for path, _ in found}  # one problem per value: the first check's
    found += [
        p for p in type_problems(obj, schema) + own_problems(obj, schema) if p[0] not in known
    ]
    for path, message in found:
        problems.append(Problem(file, what, f"{key_path(path)}: {message}"))
    return not found


#: An object's name (clientId, name, username): text without control characters, not blank,
#: and neither . nor .. (as a path segment, those would name another object).
is_name = is_object_name
