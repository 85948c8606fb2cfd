"""The Bicep under infra/: it parses, the IaC scanner finds nothing, it is built the
way an Azure engineer expects, and it deploys exactly the settings the code reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from pycep import BicepParser

from calbridge.config import DeclaredSetting

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
PARAMETERS = INFRA / "main.parameters.json"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Settings the code reads that the deployment deliberately does not set, and why.
LOCAL_ONLY_SETTINGS = {
    # Connection-string form of storage (Azurite locally). Azure uses the identity-based
    # AzureWebJobsStorage__* settings: shared keys are off on the account.
    "AzureWebJobsStorage": "connection string; Azure uses AzureWebJobsStorage__*",
    # Extra CAs for the local emulators; in Azure the endpoints have public certificates.
    "BOOKING_SYSTEM_CA_BUNDLE": "local emulator CA",
    "OUTLOOK_CA_BUNDLE": "local emulator CA",
    "GOOGLE_CALENDAR_CA_BUNDLE": "local emulator CA",
    "CALDAV_CA_BUNDLE": "a private CA of a self-hosted CalDAV server",
    # The key file is the alternative to the Key Vault key (a file would have to ship in
    # the package).
    "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE": "alternative to the Key Vault key",
    # The certificate credential is the alternative to the client secret; in Azure the
    # secret comes from Key Vault (a certificate file would have to ship in the package).
    "OUTLOOK_CLIENT_CERTIFICATE_PATH": "alternative to the Key Vault client secret",
    "OUTLOOK_CLIENT_CERTIFICATE_THUMBPRINT": "alternative to the Key Vault client secret",
    # Console log format of the local host; in Azure logs go to Application Insights.
    "CALBRIDGE_LOG_FORMAT": "local console output",
}

# Settings the deployment sets for the Functions host and platform, not for calbridge.
HOST_SETTINGS = {
    "AzureWebJobsStorage__credential",  # the host's storage clients use managed identity
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Entra ID auth for telemetry
}

# Built-in roles the app's identity needs, by role definition id.
EXPECTED_ROLES = {
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
    "4633458b-17de-408a-b874-0445c86b69e6",  # Key Vault Secrets User
    "3913510d-42f4-4e42-8a64-420c390055eb",  # Monitoring Metrics Publisher
}

SCAN_TIMEOUT_SECONDS = 120


# ---- reading the Bicep -----------------------------------------------------------

@cache
def _parser() -> BicepParser:
    return BicepParser()


@cache
def parsed(path: Path) -> dict[str, Any]:
    return _parser().parse(file_path=path)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's declared body, whether or not it is conditional (`= if (...)`)."""
    config = resource["config"]
    if "condition" in config and "config" in config:
        return config["config"]
    return config


def resources(resource_type: str) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in BICEP_FILES:
        for name, resource in parsed(path).get("resources", {}).items():
            if resource["type"].lower() == resource_type.lower() and not resource["existing"]:
                yield path, name, body(resource)


def only(resource_type: str) -> dict[str, Any]:
    found = [res for _, _, res in resources(resource_type)]
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def deployed_settings() -> dict[str, Any]:
    """App settings of the Function App, by name (values as the parser gives them)."""
    site = parsed(FUNCTION_APP)["resources"]["site"]
    entries = body(site)["properties"]["siteConfig"]["appSettings"]
    settings = {entry["name"]: entry["value"] for entry in entries}
    assert len(settings) == len(entries), "an app setting is declared twice"
    return settings


def text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ---- reading the code --------------------------------------------------------------

def declared_settings() -> list[DeclaredSetting]:
    """Every setting the code declares: the shared ones, telemetry's, and each registered
    adapter's (as `CalendarBridge.declared_settings` gives them)."""
    from calbridge.bridges.registry import adapter_types
    from calbridge.config import Settings, declared
    from calbridge.telemetry import TelemetrySettings

    found = [*declared(Settings), *declared(TelemetrySettings)]
    for adapter in adapter_types().values():
        found += adapter.declared_settings()
    return found


def read_settings() -> dict[str, Any]:
    """Every app setting the code reads, with its default (`PydanticUndefined` when it
    must be set)."""
    from pydantic_core import PydanticUndefined

    settings = {s.name: PydanticUndefined if s.required else s.default
                for s in declared_settings()}
    for name in trigger_settings():  # a binding expression may name a defaulted setting
        settings.setdefault(name, None)
    return settings


@cache
def code_settings() -> dict[str, Any]:
    return read_settings()


def key_vault_settings() -> set[str]:
    """Secrets that must reach the app only as Key Vault references: every setting the
    code declares secret, except those used only locally."""
    return {s.name for s in declared_settings() if s.secret} - set(LOCAL_ONLY_SETTINGS)


@cache
def function_bindings() -> list[dict[str, Any]]:
    from calbridge.host.app import app_functions
    from function_app import app

    return [binding.get_dict_repr() for function in app_functions(app)
            for binding in function.get_bindings()]


def trigger_settings() -> set[str]:
    """`%NAME%` app settings used in trigger schedules, queue names and the like."""
    return {name for binding in function_bindings()
            for name in re.findall(r"%([A-Za-z0-9_]+)%", text(binding))}


# ---- 1. parsing ----------------------------------------------------------------------

def test_infra_has_a_main_template_and_modules() -> None:
    assert MAIN in BICEP_FILES
    assert len(BICEP_FILES) > 2


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_file_parses(path: Path) -> None:
    document = parsed(path)
    assert document.get("resources") or document.get("modules")


def test_main_is_built_from_modules_only() -> None:
    main = parsed(MAIN)
    assert not main.get("resources"), "main.bicep declares resources itself"
    for name, module in main["modules"].items():
        module_path = (INFRA / module["detail"]["path"]).resolve()
        assert module_path in BICEP_FILES, f"module {name} points at a missing file"


# ---- 2. IaC scanner ----------------------------------------------------------------------

def _checkov() -> str:
    candidates = [ROOT / ".venv-infra" / "bin" / "checkov",
                  Path(sys.executable).with_name("checkov")]
    found = next((str(c) for c in candidates if c.exists()), None) or shutil.which("checkov")
    if not found:
        pytest.fail("checkov is not installed: run `make setup`")
    return found


@pytest.fixture(scope="module")
def scan() -> dict[str, Any]:
    completed = subprocess.run(
        [_checkov(), "--directory", str(INFRA), "--framework", "bicep", "--compact",
         "--skip-download", "--output", "json"],
        capture_output=True, text=True, timeout=SCAN_TIMEOUT_SECONDS, cwd=ROOT, check=False)
    assert completed.stdout.strip(), completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    return report[0] if isinstance(report, list) else report


def test_scanner_reports_no_failed_check(scan: dict[str, Any]) -> None:
    # Open-source checkov reports no severities, so nothing failing is tolerated: a
    # check that does not apply is suppressed inline with its reason.
    summary = scan["summary"]
    failed = [f"{check['check_id']} {check['resource']} ({check['file_path']}): "
              f"{check['check_name']}" for check in scan["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0, "the scanner checked nothing"
    assert not failed, "\n".join(failed)


def test_every_suppression_gives_its_reason(scan: dict[str, Any]) -> None:
    for check in scan["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20 and reason != "No comment provided", (
            f"{check['check_id']} on {check['resource']} is suppressed without a reason")


# ---- 3. settings cross-check ---------------------------------------------------------------

def test_every_setting_the_code_reads_is_deployed() -> None:
    missing = set(code_settings()) - set(deployed_settings()) - set(LOCAL_ONLY_SETTINGS)
    assert not missing, f"read by the code but not set by infra/: {sorted(missing)}"


def test_every_deployed_setting_is_read() -> None:
    orphaned = set(deployed_settings()) - set(code_settings()) - HOST_SETTINGS
    assert not orphaned, f"set by infra/ but read by nothing: {sorted(orphaned)}"


def test_allow_lists_are_current() -> None:
    code, deployed = set(code_settings()), set(deployed_settings())
    assert set(LOCAL_ONLY_SETTINGS) <= code, "LOCAL_ONLY_SETTINGS names a setting nothing reads"
    assert not set(LOCAL_ONLY_SETTINGS) & deployed, "a local-only setting is deployed"
    assert deployed >= HOST_SETTINGS, "HOST_SETTINGS names a setting infra/ does not set"
    assert not HOST_SETTINGS & code, "a host setting is read by the code: drop it from the list"


def test_trigger_connections_are_identity_based() -> None:
    settings = deployed_settings()
    for binding in function_bindings():
        connection = binding.get("connection")
        if connection:
            assert f"{connection}__accountName" in settings or connection in settings, (
                f"trigger connection {connection} has no setting in infra/")


def _main_default_for(setting_value: Any) -> tuple[bool, Any]:
    """Follow a setting's value back to a main.bicep parameter default, if it is one."""
    if isinstance(setting_value, dict) and "function" in setting_value:
        args = list(setting_value["function"]["parameters"].values())
        setting_value = args[0] if setting_value["function"]["type"] == "string" else None
    if isinstance(setting_value, dict) and "operator" in setting_value:
        operands = setting_value["operator"]["operands"]
        setting_value = operands.get("condition") if operands.get("true_value") == "true" else None
    module_params = parsed(MAIN)["modules"]["functionApp"]["config"]["params"]
    if not isinstance(setting_value, str) or setting_value not in module_params:
        return False, None
    passed_in = module_params[setting_value]
    main_param = parsed(MAIN)["parameters"].get(passed_in) if isinstance(passed_in, str) else None
    if main_param is None:
        return False, None
    return "default" in main_param, main_param.get("default")


def _normalised(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def test_deployed_defaults_match_the_code() -> None:
    from pydantic_core import PydanticUndefined

    compared = 0
    for name, value in deployed_settings().items():
        code_default = code_settings().get(name, PydanticUndefined)
        has_default, bicep_default = _main_default_for(value)
        if not has_default or code_default is PydanticUndefined:
            continue
        if not isinstance(bicep_default, str | int | bool):
            continue  # an expression such as tenant().tenantId
        compared += 1
        assert _normalised(bicep_default) == _normalised(code_default), (
            f"{name}: infra/ defaults to {bicep_default!r}, the code to {code_default!r}")
    assert compared >= 5


# ---- 4. what an Azure engineer checks --------------------------------------------------------

def test_storage_accepts_only_entra_id_over_tls12() -> None:
    props = only("Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    for _, _, container in resources("Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert container["properties"]["publicAccess"] == "None"


def test_function_app_runs_on_flex_consumption_with_python_311() -> None:
    plan = only("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = only("Microsoft.Web/sites")["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["type"] == "blobContainer"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert {"instanceMemoryMB", "maximumInstanceCount"} <= set(config["scaleAndConcurrency"])
    # Settings the Flex Consumption plan rejects.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION",
                "WEBSITE_RUN_FROM_PACKAGE"} & set(deployed_settings())


def test_function_app_is_https_only_tls12_without_ftp_or_basic_auth() -> None:
    site = only("Microsoft.Web/sites")
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    # FTP is off through the publishing-credentials policy, not ftpsState (see below).
    assert site["identity"]["type"] == "UserAssigned"
    assert props["keyVaultReferenceIdentity"] == "identityId"
    policies = {res["name"]: res["properties"]["allow"] for _, _, res in
                resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")}
    assert policies == {"ftp": False, "scm": False}


# Site properties the Flex Consumption plan does not support (its docs' list of
# deprecated/unsupported settings; ftpsState fails the deployment with ARM error 51021).
# Scale, runtime and always-ready live in functionAppConfig instead.
FLEX_UNSUPPORTED_SITE_CONFIG = {
    "ftpsState", "alwaysOn", "functionAppScaleLimit", "functionsRuntimeScaleMonitoringEnabled",
    "javaVersion", "linuxFxVersion", "netFrameworkVersion", "powerShellVersion",
    "preWarmedInstanceCount", "use32BitWorkerProcess", "windowsFxVersion",
    "numberOfWorkers", "minimumElasticInstanceCount",
}
FLEX_UNSUPPORTED_SITE_PROPERTIES = {"containerSize", "dailyMemoryTimeQuota"}
FLEX_INSTANCE_MEMORY_MB = {512, 2048, 4096}
# The Microsoft.Web API version the Flex Consumption samples use, with functionAppConfig
# and every instance memory size above.
WEB_API_VERSION = "2024-11-01"


def test_function_app_sets_nothing_flex_consumption_rejects() -> None:
    props = only("Microsoft.Web/sites")["properties"]
    assert not FLEX_UNSUPPORTED_SITE_CONFIG & set(props["siteConfig"]), (
        sorted(FLEX_UNSUPPORTED_SITE_CONFIG & set(props["siteConfig"])))
    assert not FLEX_UNSUPPORTED_SITE_PROPERTIES & set(props)
    scale = props["functionAppConfig"]["scaleAndConcurrency"]
    assert set(scale) <= {"instanceMemoryMB", "maximumInstanceCount", "alwaysReady",
                          "triggers"}


def test_instance_memory_is_a_size_flex_consumption_offers() -> None:
    for path in (MAIN, FUNCTION_APP):
        memory = parsed(path)["parameters"]["instanceMemoryMB"]
        allowed = next(d for d in memory["decorators"] if d["type"] == "allowed")
        assert set(allowed["argument"]) <= FLEX_INSTANCE_MEMORY_MB
        assert memory["default"] in FLEX_INSTANCE_MEMORY_MB


def test_web_resources_use_the_flex_consumption_api_version() -> None:
    text_of = FUNCTION_APP.read_text()
    versions = set(re.findall(r"'Microsoft\.Web/[\w/]+@([\d-]+)'", text_of))
    assert versions == {WEB_API_VERSION}, versions


def test_storage_settings_are_identity_based() -> None:
    settings = deployed_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    props = only("Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True


@pytest.mark.parametrize("setting", sorted(key_vault_settings()))
def test_secret_settings_are_key_vault_references(setting: str) -> None:
    value = text(deployed_settings()[setting])
    assert "@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=" in value


def test_a_registered_adapters_settings_are_demanded_of_the_deployment(
        toy_adapter: type) -> None:
    # What an adapter declares is what these checks hold infra/ to: a new calendar system
    # needs its settings deployed, and its secrets in Key Vault, with no list to update.
    missing = set(read_settings()) - set(deployed_settings()) - set(LOCAL_ONLY_SETTINGS)
    assert missing == {"TOY_CALENDARS", "TOY_SIGNING_KEY"}
    assert "TOY_SIGNING_KEY" in key_vault_settings()
    assert "TOY_CALENDARS" not in key_vault_settings()


def _secure_parameters(path: Path) -> dict[str, dict[str, Any]]:
    return {name: param for name, param in parsed(path).get("parameters", {}).items()
            if any(d["type"] == "secure" for d in param["decorators"])}


def test_secrets_have_no_default_and_are_not_in_the_parameters_file() -> None:
    assert _secure_parameters(MAIN), "main.bicep takes no secret parameter"
    for path in BICEP_FILES:
        for name, param in _secure_parameters(path).items():
            # None: required; "": a calendar system's credential, checked below.
            assert param.get("default") in (None, ""), f"{path.name}: {name} has a default value"
    given = set(json.loads(PARAMETERS.read_text())["parameters"])
    assert not given & set(_secure_parameters(MAIN)), "a secret is in main.parameters.json"
    unknown = given - set(parsed(MAIN)["parameters"])
    assert not unknown, f"main.parameters.json sets unknown parameters: {sorted(unknown)}"


# Secrets every deployment needs whatever bridges it enables: required parameters, at
# least 32 characters, always written to Key Vault and always referenced.
ALWAYS_REQUIRED_SECRETS = {
    "calbridgeBookingSystemKey": "CALBRIDGE_BOOKING_SYSTEM_KEY",
    "calbridgeOperatorKey": "CALBRIDGE_FUNCTION_KEY",
    "calbridgePushSecretKey": "CALBRIDGE_PUSH_SECRET_KEY",
    "bookingSystemWebhookSecret": "BOOKING_SYSTEM_WEBHOOK_SECRET",
}
KEY_VAULT = FUNCTION_APP.with_name("keyvault.bicep")


@pytest.mark.parametrize("name", sorted(ALWAYS_REQUIRED_SECRETS))
def test_secrets_every_deployment_needs_are_required_and_always_written(name: str) -> None:
    # An optional secret left empty would be refused at start-up, or worse, match an
    # empty value (an unsigned webhook, an unkeyed hash).
    for path in (MAIN, KEY_VAULT):
        param = _secure_parameters(path)[name]
        assert param.get("default") is None, f"{path.name}: {name} must be passed"
    min_length = next(d["argument"] for d in _secure_parameters(MAIN)[name]["decorators"]
                      if d["type"] == "min_length")
    assert min_length >= 32
    secret = parsed(KEY_VAULT)["resources"][f"{name}Value"]
    assert "condition" not in secret["config"], f"{name}'s secret must always be written"
    reference = text(deployed_settings()[ALWAYS_REQUIRED_SECRETS[name]])
    assert reference == json.dumps(
        f"@Microsoft.KeyVault(VaultName=${{keyVaultName}};SecretName=${{secretNames.{name}}})")


def _credential_parameters() -> list[str]:
    """Secret parameters with an empty default: credentials a calendar system issues,
    needed only while its bridge (and that way of signing in) is enabled."""
    return sorted(name for name, param in _secure_parameters(MAIN).items()
                  if param.get("default") == "")


def test_every_secret_parameter_is_required_or_checked_while_in_use() -> None:
    secure = set(_secure_parameters(MAIN))
    assert secure == set(ALWAYS_REQUIRED_SECRETS) | set(_credential_parameters())
    assert set(_credential_parameters()) == set(
        parsed(MAIN)["variables"]["secretsInUse"]["value"])


@pytest.mark.parametrize("name", _credential_parameters())
def test_a_credential_in_use_but_empty_stops_the_deployment(name: str) -> None:
    main = MAIN.read_text()
    # What the vault gets: the value while in use, and while in use but empty a lookup of
    # a property the empty `missing` object lacks, which ARM fails naming that property.
    guard = (rf"^    {name}: secretsInUse\.{name} \? \(empty\({name}\) \? "
             rf"missing\[format\(requiredWhile, '{name}', calbridgeBridges, '[^']+'\)\] : "
             rf"{name}\) : ''$")
    assert re.search(guard, main, re.MULTILINE), f"{name} reaches Key Vault unchecked"
    assert parsed(MAIN)["variables"]["missing"]["value"] == {}
    assert parsed(MAIN)["variables"]["requiredWhile"]["value"] == (
        "{0} is required with calbridgeBridges={1} ({2})")
    # Referenced by the app only while in use, so no setting names a secret never written.
    app = FUNCTION_APP.read_text()
    references = re.findall(rf"value: (.*)SecretName=\${{secretNames\.{name}}}", app)
    assert references == [f"secretsInUse.{name} ? '@Microsoft.KeyVault(VaultName="
                          "${keyVaultName};"], references
    secret = parsed(KEY_VAULT)["resources"][f"{name}Value"]
    assert secret["config"]["condition"]["operator"]["type"] == "not"


def test_secrets_stop_being_kept_when_left_out() -> None:
    # A redeployment passes every secret in use again; nothing relies on the vault
    # keeping a value that a deployment left out.
    readme = (INFRA / "README.md").read_text()
    assert "keeps the value it has" not in readme
    assert "openssl rand -base64 32" in readme


def test_outputs_carry_no_secret() -> None:
    for path in BICEP_FILES:
        secrets = set(_secure_parameters(path))
        for name, output in parsed(path).get("outputs", {}).items():
            value = text(output["value"])
            assert not {s for s in secrets if re.search(rf"\b{s}\b", value)}, (
                f"{path.name}: output {name} exposes a secret parameter")
            assert not re.search(r"\blist\w*\(|\"list_?\w*\"", value), (
                f"{path.name}: output {name} calls a list* function")
    outputs = set(parsed(MAIN)["outputs"])
    assert {"functionAppName", "defaultHostUrl", "WEBHOOK_BASE_URL", "keyVaultName",
            "identityClientId"} <= outputs


def test_role_assignments_are_scoped_to_resources_and_named_by_guid() -> None:
    assignments = list(resources("Microsoft.Authorization/roleAssignments"))
    granted = []
    for path, name, assignment in assignments:
        declared = set(parsed(path)["resources"])
        scope = assignment.get("scope")
        assert isinstance(scope, str) and scope in declared, (
            f"{name}: not scoped to a resource declared in {path.name}")
        guid = assignment["name"]["function"]
        assert guid["type"] == "guid", f"{name}: name is not guid(...)"
        assert f'"operand_1": "{scope}"' in text(guid["parameters"]), f"{name}: guid() omits scope"
        assert "principalId" in text(guid["parameters"]), f"{name}: guid() omits the principal"
        assert assignment["properties"]["principalType"] == "ServicePrincipal"
        role = assignment["properties"]["roleDefinitionId"]["function"]["parameters"]
        granted.append(role["resource_name_1"]["operator"]["operands"]["operand_2"])
    assert len(set(granted)) == len(granted), "two assignments grant the same role"
    role_ids = parsed(FUNCTION_APP.with_name("rbac.bicep"))["variables"]["roles"]["value"]
    assert {role_ids[key] for key in granted} == EXPECTED_ROLES


def test_every_setting_is_documented_for_local_use() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())
    documented = set(example["Values"]) | set(example["_documentation"])
    undocumented = set(code_settings()) - documented
    assert not undocumented, f"not in local.settings.example.json: {sorted(undocumented)}"


# ---- 5. sign-in over the status page and management routes -----------------------------

# The webhooks calendar systems deliver to: they cannot sign in, so sign-in never guards
# them (each authenticates its deliveries itself).
WEBHOOK_ROUTES = {"bridges/webhook/{bridge}", "webhook/outlook-notifications",
                  "webhook/outlook-lifecycle"}
SIGN_IN_ACTIONS = {"RedirectToLoginPage", "Return401"}


def http_routes() -> list[tuple[str, str, frozenset[Any]]]:
    """(route, authLevel, callers) of every HTTP function the app registers."""
    from calbridge.functions.callers import callers_of
    from calbridge.host.app import app_functions
    from function_app import app

    return [(binding["route"], binding["authLevel"], callers_of(function.get_user_function()))
            for function in app_functions(app)
            for binding in (b.get_dict_repr() for b in function.get_bindings())
            if binding.get("type") == "httpTrigger"]


def excluded_from_sign_in(route: str) -> bool:
    path = "/" + route
    for excluded in parsed(FUNCTION_APP)["variables"]["signInExcludedPaths"]["value"]:
        if path == excluded or (excluded.endswith("/*") and path.startswith(excluded[:-1])):
            return True
    return False


def test_entra_sign_in_is_off_by_default() -> None:
    for path in (MAIN, FUNCTION_APP):
        assert parsed(path)["parameters"]["enableEntraSignIn"]["default"] is False
    assert "enableEntraSignIn" not in json.loads(PARAMETERS.read_text())["parameters"]
    auth = parsed(FUNCTION_APP)["resources"]["authSettings"]
    assert auth["config"]["condition"] == "enableEntraSignIn", "sign-in is not conditional"
    passed = parsed(MAIN)["modules"]["functionApp"]["config"]["params"]
    assert passed["enableEntraSignIn"] == "enableEntraSignIn"


def test_entra_sign_in_when_on_guards_everything_but_webhooks_and_booking_routes() -> None:
    auth = body(parsed(FUNCTION_APP)["resources"]["authSettings"])
    assert auth["name"] == "authsettingsV2" and auth["parent"] == "site"
    props = auth["properties"]
    assert props["platform"]["enabled"] is True
    validation = props["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "entraSignInUnauthenticatedAction"
    assert validation["excludedPaths"] == "signInExcludedPaths"
    entra = props["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == "entraSignInClientId"
    assert entra["registration"]["openIdIssuer"].endswith("/v2.0")
    for path in (MAIN, FUNCTION_APP):
        action = parsed(path)["parameters"]["entraSignInUnauthenticatedAction"]
        allowed = next(d for d in action["decorators"] if d["type"] == "allowed")
        assert set(allowed["argument"]) == SIGN_IN_ACTIONS
        assert action["default"] == "RedirectToLoginPage"  # the status page opens in a browser

    routes = http_routes()
    anonymous = {route for route, level, _ in routes if level == func.AuthLevel.ANONYMOUS}
    assert WEBHOOK_ROUTES <= anonymous
    for route in WEBHOOK_ROUTES:
        assert excluded_from_sign_in(route), f"/{route} would need a sign-in"
    from calbridge.functions.callers import Caller
    for route, _, callers in routes:
        if route in WEBHOOK_ROUTES:
            continue
        # The booking system presents its key and cannot sign in; operators' routes
        # (and the status page) need a sign-in first.
        assert excluded_from_sign_in(route) == (Caller.BOOKING_SYSTEM in callers), route
    assert not excluded_from_sign_in("dashboard")


def test_sign_in_needs_its_client_id() -> None:
    passed = MAIN.read_text()
    assert re.search(r"entraSignInClientId: enableEntraSignIn && empty\(entraSignInClientId\) "
                     r"\? missing\[format\('\{0\} is required with enableEntraSignIn=\{1\}', "
                     r"'entraSignInClientId', enableEntraSignIn\)\] : entraSignInClientId$",
                     passed, re.MULTILINE)


# ---- 6. instances and Microsoft Graph's per-mailbox limit --------------------------------

def test_instances_and_queue_concurrency_keep_a_mailbox_within_exchanges_limit() -> None:
    from calbridge.bridges.outlook.settings import MAILBOX_CONCURRENT_REQUESTS

    main, app = parsed(MAIN)["parameters"], parsed(FUNCTION_APP)["parameters"]
    instances = main["maximumInstanceCount"]["default"]
    budget = main["outlookMaxConcurrency"]["default"]
    assert app["maximumInstanceCount"]["default"] == instances
    assert budget == MAILBOX_CONCURRENT_REQUESTS
    assert main["outlookRequestsPer10Min"]["default"] == 10_000
    assert main["calbridgeSharedPacing"]["default"] is False
    # Unless pacing is shared, each instance paces Graph by itself, with its share of
    # each of the app's limits (shared, each holds all of them: the ledger keeps the sum)...
    variables = parsed(FUNCTION_APP)["variables"]
    for variable, limit, setting in (
            ("outlookConcurrencyPerInstance", "outlookMaxConcurrency", "OUTLOOK_MAX_CONCURRENCY"),
            ("outlookRequestsPerInstance", "outlookRequestsPer10Min",
             "OUTLOOK_REQUESTS_PER_10_MIN")):
        assert variables[variable]["value"] == {"operator": {"type": "conditional", "operands": {
            "condition": "calbridgeSharedPacing", "true_value": limit,
            "false_value": {"function": {"type": "max", "parameters": {"arg_1": 1, "arg_2": {
                "operator": {"type": "divide", "operands": {
                    "operand_1": limit, "operand_2": "maximumInstanceCount"}}}}}}}}}
        assert text(deployed_settings()[setting]) == text({"function": {
            "type": "string", "parameters": {"value_to_convert": variable}}})
    assert text(deployed_settings()["CALBRIDGE_SHARED_PACING"]) == text({"function": {
        "type": "string", "parameters": {"value_to_convert": "calbridgeSharedPacing"}}})

    def per_instance(count: int) -> int:
        return max(1, budget // count)  # ARM divides integers as Python's // does

    # ...so up to the budget in instances, a mailbox never sees more than Exchange allows.
    assert instances * per_instance(instances) <= MAILBOX_CONCURRENT_REQUESTS
    for count in range(1, MAILBOX_CONCURRENT_REQUESTS + 1):
        assert count * per_instance(count) <= MAILBOX_CONCURRENT_REQUESTS
    requests = main["outlookRequestsPer10Min"]["default"]
    assert instances * max(1, requests // instances) <= requests
    # One instance runs at most batchSize + newBatchThreshold messages of a queue at once:
    # enough to use its share, few enough that messages waiting for it stay few.
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    at_once = queues["batchSize"] + queues["newBatchThreshold"]
    assert per_instance(instances) <= at_once <= 2 * MAILBOX_CONCURRENT_REQUESTS
