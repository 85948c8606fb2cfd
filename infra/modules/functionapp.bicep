// The Function App on the Flex Consumption plan (FC1, Linux, Python), its app
// settings, and its publishing policies. It runs as the user-assigned identity:
// storage, Key Vault references and Application Insights all use it.

@description('Name of the Function App (also its default host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (must offer the Flex Consumption plan).')
param location string

@description('Tags for the resources.')
param tags object = {}

// ---- identity, storage, monitoring, secrets -------------------------------------

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Name of the storage account behind AzureWebJobsStorage.')
param storageAccountName string

@description('Blob endpoint of the storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Table endpoint of the storage account.')
param storageTableEndpoint string

@description('Queue endpoint of the storage account.')
param storageQueueEndpoint string

@description('Blob container the plan deploys the app package from.')
param deploymentContainerName string

@description('Application Insights connection string (not a credential: local auth is off).')
param applicationInsightsConnectionString string

@description('Name of the Key Vault the secret app settings reference.')
param keyVaultName string

@description('Secret names in the vault (from keyvault.bicep).')
param secretNames object

@description('Which of the calendar systems\' credentials the enabled bridges use, by secret (main.bicep): only those are referenced, so no app setting names a secret that was never written.')
param secretsInUse object

// ---- sign-in (App Service Authentication) ------------------------------------------

@description('Require a Microsoft Entra ID sign-in before the status page and the management routes.')
param enableEntraSignIn bool = false

@description('Application (client) id of the app registration people sign in with.')
param entraSignInClientId string = ''

@description('What a request without a sign-in gets: RedirectToLoginPage or Return401.')
@allowed([
  'RedirectToLoginPage'
  'Return401'
])
param entraSignInUnauthenticatedAction string = 'RedirectToLoginPage'

// ---- scale ---------------------------------------------------------------------

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to (each runs its own Graph and booking system clients, and paces Graph on its own).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Always-ready instances for the HTTP functions; 0 scales to zero when idle.')
@minValue(0)
param alwaysReadyHttpInstances int = 0

// ---- calbridge settings (see local.settings.example.json) ------------------------

@description('CALBRIDGE_BRIDGES: comma-separated bridges, each name or name=type.')
param calbridgeBridges string

@description('CALBRIDGE_BOOKING_BRIDGE: the bridge that is the booking side of resource mappings.')
param calbridgeBookingBridge string

@description('CALBRIDGE_TABLE_PREFIX: prefix of the table names (letters and digits, may be empty).')
param calbridgeTablePrefix string

@description('CALBRIDGE_MAX_BODY_BYTES: largest accepted request body.')
param calbridgeMaxBodyBytes int

@description('CALBRIDGE_HTTP_TIMEOUT_SECONDS: timeout of every outbound call to a calendar system.')
param calbridgeHttpTimeoutSeconds int

@description('SYNC_SCHEDULE: NCRONTAB schedule of the two-way sync of every active mapping (and due retries).')
param syncSchedule string

@description('DELETION_SYNC_SCHEDULE: NCRONTAB schedule of deletion detection from complete listings.')
param deletionSyncSchedule string

@description('CALBRIDGE_SYNC_PAST_DAYS: days before today that sync looks at.')
@minValue(0)
param calbridgeSyncPastDays int

@description('CALBRIDGE_SYNC_FUTURE_DAYS: days after today that sync looks at.')
@minValue(1)
param calbridgeSyncFutureDays int

@description('CALBRIDGE_RECURRENCE_HORIZON_DAYS: days ahead that the occurrences of a recurring series become one event each in a calendar without recurrence.')
@minValue(1)
@maxValue(3650)
param calbridgeRecurrenceHorizonDays int

@description('CALBRIDGE_MAX_ATTEMPTS: attempts before a failing operation is left for an operator.')
@minValue(1)
param calbridgeMaxAttempts int

@description('CALBRIDGE_MASS_DELETE_SHARE: share of the linked events of a calendar whose deletion in one run is held for confirmation.')
param calbridgeMassDeleteShare string

@description('CALBRIDGE_MASS_DELETE_MIN: smallest number of deletions the mass-deletion guard holds.')
@minValue(1)
param calbridgeMassDeleteMin int

@description('CALBRIDGE_MASS_DELETE_WINDOW_MINUTES: minutes over which deletions arriving one by one (webhooks, queued work) are measured together by the mass-deletion guard.')
@minValue(1)
@maxValue(1440)
param calbridgeMassDeleteWindowMinutes int

@description('CALBRIDGE_INLINE_OPERATIONS: operations a sync run applies itself before queueing the rest.')
@minValue(1)
param calbridgeInlineOperations int

@description('CALBRIDGE_WEBHOOK_APPLY_NOW: a webhook request announcing at most this many changes has them synced at once; 0 leaves all to the notifications queue.')
@minValue(0)
@maxValue(50)
param calbridgeWebhookApplyNow int
@description('CALBRIDGE_SYNC_BUDGET_SECONDS: seconds a sync request writes before it answers and queues the rest (Azure ends an HTTP call after about 230).')
@minValue(0)
@maxValue(220)
param calbridgeSyncBudgetSeconds int

@description('CALBRIDGE_SYNC_WORKERS: operations one sync run applies at the same time.')
@minValue(1)
@maxValue(32)
param calbridgeSyncWorkers int

@description('CALBRIDGE_SHARED_PACING: hold each Outlook request\'s slot and draw the 10-minute budget in Table Storage, so a mailbox\'s limits hold across every instance of the app while one instance may use all of them (off: each instance gets its share).')
param calbridgeSharedPacing bool

@description('SUBSCRIPTION_RENEWAL_SCHEDULE: NCRONTAB schedule of push subscription renewal and re-creation.')
param subscriptionRenewalSchedule string

@description('POLL_SCHEDULE: NCRONTAB schedule of the polling fallback.')
param pollSchedule string

@description('CALDAV_POLL_SCHEDULE: NCRONTAB schedule of the timer that polls CalDAV calendars.')
param caldavPollSchedule string

@description('CALDAV_MAX_CONCURRENCY: writes of one sync run in flight at once against a CalDAV server.')
@minValue(1)
@maxValue(32)
param caldavMaxConcurrency int

@description('CALBRIDGE_SUBSCRIPTION_MINUTES: lifetime asked for push subscriptions.')
@minValue(45)
@maxValue(10070)
param calbridgeSubscriptionMinutes int

@description('CALBRIDGE_RECONCILE_MINUTES: how often a calendar with a healthy subscription is still polled.')
@minValue(1)
@maxValue(1440)
param calbridgeReconcileMinutes int

@description('WEBHOOK_BASE_URL override (custom domain or gateway); empty uses https://<default host name>.')
param webhookBaseUrl string

@description('BOOKING_SYSTEM_BASE_URL: base URL of the booking system\'s /api/events contract.')
param bookingSystemBaseUrl string

@description('BOOKING_SYSTEM_API_KEY_HEADER: header that carries the API key.')
param bookingSystemApiKeyHeader string

@description('BOOKING_SYSTEM_TOKEN_URL: OAuth2 token URL; empty means the booking system takes an API key.')
param bookingSystemTokenUrl string

@description('BOOKING_SYSTEM_CLIENT_ID: OAuth2 client id (with BOOKING_SYSTEM_TOKEN_URL).')
param bookingSystemClientId string

@description('BOOKING_SYSTEM_SCOPE: OAuth2 scope (optional).')
param bookingSystemScope string

@description('OUTLOOK_TENANT_ID: Microsoft Entra tenant of the app registration.')
param outlookTenantId string

@description('OUTLOOK_CLIENT_ID: application (client) id of the app registration.')
param outlookClientId string

@description('OUTLOOK_AUTHORITY_HOST: Microsoft Entra login host.')
param outlookAuthorityHost string

@description('GRAPH_BASE_URL: Microsoft Graph endpoint.')
param graphBaseUrl string

@description('OUTLOOK_MAILBOXES: comma-separated mailboxes offered when Places is not used or refused.')
param outlookMailboxes string

@description('OUTLOOK_CALENDAR_SOURCE: places (rooms from Graph Places) or mailboxes (exactly OUTLOOK_MAILBOXES).')
param outlookCalendarSource string

@description('Concurrent Graph requests per mailbox for the whole app (1-4); OUTLOOK_MAX_CONCURRENCY is each instance\'s share unless pacing is shared.')
param outlookMaxConcurrency int

@description('Graph request budget per mailbox per 10 minutes for the whole app; OUTLOOK_REQUESTS_PER_10_MIN is each instance\'s share unless pacing is shared.')
param outlookRequestsPer10Min int

@description('OUTLOOK_PAGE_SIZE: events per Graph page.')
param outlookPageSize int

@description('OUTLOOK_WRITE_ATTENDEES: copy attendees into Outlook events (Exchange invites them).')
param outlookWriteAttendees bool

@description('OUTLOOK_ORGANIZER_AS_ATTENDEE: add the booker as an attendee of Outlook copies (Exchange invites them).')
param outlookOrganizerAsAttendee bool

@description('How the google_calendar bridge signs in: service_account or oauth.')
param googleCalendarAuth string

@description('GOOGLE_CALENDAR_SUBJECT: the Workspace user the service account acts as.')
param googleCalendarSubject string

@description('GOOGLE_CALENDAR_CLIENT_ID: OAuth client id (oauth sign-in).')
param googleCalendarClientId string

@description('GOOGLE_CALENDAR_TOKEN_URI: Google OAuth 2.0 token endpoint.')
param googleCalendarTokenUri string

@description('GOOGLE_CALENDAR_API_BASE_URL: Google Calendar API v3 endpoint.')
param googleCalendarApiBaseUrl string

@description('GOOGLE_CALENDAR_MAX_CONCURRENCY: concurrent Calendar API requests.')
param googleCalendarMaxConcurrency int

@description('GOOGLE_CALENDAR_REQUESTS_PER_MINUTE: request budget of the user calbridge acts as.')
param googleCalendarRequestsPerMinute int

@description('GOOGLE_CALENDAR_PAGE_SIZE: events per Calendar API page.')
param googleCalendarPageSize int

@description('GOOGLE_CALENDAR_LIST_ROOMS: also list the Workspace\'s room calendars (Directory API).')
param googleCalendarListRooms bool

@description('GOOGLE_CALENDAR_CUSTOMER: the Workspace customer id whose rooms are listed.')
param googleCalendarCustomer string

@description('GOOGLE_CALENDAR_DIRECTORY_API_BASE_URL: Admin SDK Directory API endpoint.')
param googleCalendarDirectoryApiBaseUrl string

@description('CALDAV_URL: the CalDAV server\'s base URL.')
param caldavUrl string

@description('How the caldav bridge signs in: basic or bearer.')
param caldavAuth string

@description('CALDAV_USERNAME: the account calbridge signs in as (basic).')
param caldavUsername string

var usesCaldavBearer = caldavAuth == 'bearer'
// Every instance paces Graph by itself (calbridge/bridges/pacing.py), so the app's
// per-mailbox budget is split over the instances; with more instances than the budget,
// each still sends one at a time (infra/README.md, "Scale and Graph's mailbox limit").
// Graph's limits per mailbox hold across instances: shared through Table Storage with
// CALBRIDGE_SHARED_PACING (each instance may then use all of them), else split between them.
var outlookConcurrencyPerInstance = calbridgeSharedPacing ? outlookMaxConcurrency : max(1, outlookMaxConcurrency / maximumInstanceCount)
var outlookRequestsPerInstance = calbridgeSharedPacing ? outlookRequestsPer10Min : max(1, outlookRequestsPer10Min / maximumInstanceCount)
// The default host name of a Function App in the public cloud; webhookBaseUrl
// overrides it for a custom domain, a gateway or another cloud.
var effectiveWebhookBaseUrl = empty(webhookBaseUrl) ? 'https://${name}.azurewebsites.net' : webhookBaseUrl

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption depends on the region and needs zone-redundant storage; not the default
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: Microsoft Graph and the booking system deliver webhooks over the internet; management routes require a function key
  // checkov:skip=CKV_AZURE_17: webhook senders (Microsoft Graph, the booking system) present no client certificate; webhooks are verified by clientState and signatures
  // checkov:skip=CKV_AZURE_212: numberOfWorkers does not apply to Flex Consumption, which scales instances itself (alwaysReadyHttpInstances keeps some warm)
  // checkov:skip=CKV_AZURE_213: /bridges/health needs a function key and probes the calendar systems; a platform probe would get 401, or recycle healthy instances when an upstream is down
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  // checkov:skip=CKV_AZURE_78: the Flex Consumption plan rejects siteConfig.ftpsState (ARM error 51021); FTP publishing is off through the ftp publishing credentials policy in this module
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: the Flex Consumption plan rejects it (ARM error 51021, listed among
      // the plan's unsupported site settings); FTP is off through the ftp
      // basicPublishingCredentialsPolicies below.
      http20Enabled: true
      remoteDebuggingEnabled: false
      // Every setting calbridge reads in Azure, plus the host's own. Secrets are Key
      // Vault references resolved with keyVaultReferenceIdentity; nothing secret is
      // inline. FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION are not set:
      // the Flex Consumption plan takes the runtime from functionAppConfig.
      appSettings: [
        // Functions host and calbridge's Table/Queue clients: managed identity, no keys.
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storageTableEndpoint }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storageQueueEndpoint }
        // Application Insights with Microsoft Entra authentication.
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // calbridge core.
        { name: 'CALBRIDGE_BRIDGES', value: calbridgeBridges }
        { name: 'CALBRIDGE_BOOKING_BRIDGE', value: calbridgeBookingBridge }
        // The booking system's key; the app gives it only the booking system's routes.
        { name: 'CALBRIDGE_BOOKING_SYSTEM_KEY', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.calbridgeBookingSystemKey})' }
        // The operator's key, which the status page checks itself.
        { name: 'CALBRIDGE_FUNCTION_KEY', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.calbridgeOperatorKey})' }
        // Push subscriptions' client states are stored as keyed hashes under this key.
        { name: 'CALBRIDGE_PUSH_SECRET_KEY', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.calbridgePushSecretKey})' }
        { name: 'CALBRIDGE_TABLE_PREFIX', value: calbridgeTablePrefix }
        { name: 'CALBRIDGE_MAX_BODY_BYTES', value: string(calbridgeMaxBodyBytes) }
        { name: 'CALBRIDGE_HTTP_TIMEOUT_SECONDS', value: string(calbridgeHttpTimeoutSeconds) }
        { name: 'SYNC_SCHEDULE', value: syncSchedule }
        { name: 'DELETION_SYNC_SCHEDULE', value: deletionSyncSchedule }
        { name: 'CALBRIDGE_SYNC_PAST_DAYS', value: string(calbridgeSyncPastDays) }
        { name: 'CALBRIDGE_SYNC_FUTURE_DAYS', value: string(calbridgeSyncFutureDays) }
        { name: 'CALBRIDGE_RECURRENCE_HORIZON_DAYS', value: string(calbridgeRecurrenceHorizonDays) }
        { name: 'CALBRIDGE_MAX_ATTEMPTS', value: string(calbridgeMaxAttempts) }
        { name: 'CALBRIDGE_MASS_DELETE_SHARE', value: calbridgeMassDeleteShare }
        { name: 'CALBRIDGE_MASS_DELETE_MIN', value: string(calbridgeMassDeleteMin) }
        { name: 'CALBRIDGE_MASS_DELETE_WINDOW_MINUTES', value: string(calbridgeMassDeleteWindowMinutes) }
        { name: 'CALBRIDGE_INLINE_OPERATIONS', value: string(calbridgeInlineOperations) }
        { name: 'CALBRIDGE_WEBHOOK_APPLY_NOW', value: string(calbridgeWebhookApplyNow) }
        { name: 'CALBRIDGE_SYNC_WORKERS', value: string(calbridgeSyncWorkers) }
        { name: 'CALBRIDGE_SHARED_PACING', value: string(calbridgeSharedPacing) }
        { name: 'CALBRIDGE_SYNC_BUDGET_SECONDS', value: string(calbridgeSyncBudgetSeconds) }
        { name: 'SUBSCRIPTION_RENEWAL_SCHEDULE', value: subscriptionRenewalSchedule }
        { name: 'POLL_SCHEDULE', value: pollSchedule }
        { name: 'CALDAV_POLL_SCHEDULE', value: caldavPollSchedule }
        { name: 'CALDAV_MAX_CONCURRENCY', value: string(caldavMaxConcurrency) }
        { name: 'CALBRIDGE_SUBSCRIPTION_MINUTES', value: string(calbridgeSubscriptionMinutes) }
        { name: 'CALBRIDGE_RECONCILE_MINUTES', value: string(calbridgeReconcileMinutes) }
        { name: 'WEBHOOK_BASE_URL', value: effectiveWebhookBaseUrl }
        // Booking system: an API key, or OAuth2 client credentials when a token URL is set.
        { name: 'BOOKING_SYSTEM_BASE_URL', value: bookingSystemBaseUrl }
        { name: 'BOOKING_SYSTEM_API_KEY', value: secretsInUse.bookingSystemApiKey ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.bookingSystemApiKey})' : '' }
        { name: 'BOOKING_SYSTEM_API_KEY_HEADER', value: bookingSystemApiKeyHeader }
        { name: 'BOOKING_SYSTEM_TOKEN_URL', value: bookingSystemTokenUrl }
        { name: 'BOOKING_SYSTEM_CLIENT_ID', value: bookingSystemClientId }
        { name: 'BOOKING_SYSTEM_CLIENT_SECRET', value: secretsInUse.bookingSystemClientSecret ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.bookingSystemClientSecret})' : '' }
        { name: 'BOOKING_SYSTEM_SCOPE', value: bookingSystemScope }
        { name: 'BOOKING_SYSTEM_WEBHOOK_SECRET', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.bookingSystemWebhookSecret})' }
        // Outlook / Exchange Online through Microsoft Graph.
        { name: 'OUTLOOK_TENANT_ID', value: outlookTenantId }
        { name: 'OUTLOOK_CLIENT_ID', value: outlookClientId }
        { name: 'OUTLOOK_CLIENT_SECRET', value: secretsInUse.outlookClientSecret ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.outlookClientSecret})' : '' }
        { name: 'OUTLOOK_AUTHORITY_HOST', value: outlookAuthorityHost }
        { name: 'GRAPH_BASE_URL', value: graphBaseUrl }
        { name: 'OUTLOOK_MAILBOXES', value: outlookMailboxes }
        { name: 'OUTLOOK_CALENDAR_SOURCE', value: outlookCalendarSource }
        { name: 'OUTLOOK_MAX_CONCURRENCY', value: string(outlookConcurrencyPerInstance) }
        { name: 'OUTLOOK_REQUESTS_PER_10_MIN', value: string(outlookRequestsPerInstance) }
        { name: 'OUTLOOK_PAGE_SIZE', value: string(outlookPageSize) }
        { name: 'OUTLOOK_WRITE_ATTENDEES', value: outlookWriteAttendees ? 'true' : 'false' }
        { name: 'OUTLOOK_ORGANIZER_AS_ATTENDEE', value: outlookOrganizerAsAttendee ? 'true' : 'false' }
        // Google Calendar: a service account key or an OAuth refresh token, never both set
        // (an unused Key Vault reference would reach the app as its literal text).
        { name: 'GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY', value: secretsInUse.googleCalendarServiceAccountKey ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.googleCalendarServiceAccountKey})' : '' }
        { name: 'GOOGLE_CALENDAR_SUBJECT', value: googleCalendarSubject }
        { name: 'GOOGLE_CALENDAR_CLIENT_ID', value: googleCalendarClientId }
        { name: 'GOOGLE_CALENDAR_CLIENT_SECRET', value: secretsInUse.googleCalendarClientSecret ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.googleCalendarClientSecret})' : '' }
        { name: 'GOOGLE_CALENDAR_REFRESH_TOKEN', value: secretsInUse.googleCalendarRefreshToken ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.googleCalendarRefreshToken})' : '' }
        { name: 'GOOGLE_CALENDAR_TOKEN_URI', value: googleCalendarTokenUri }
        { name: 'GOOGLE_CALENDAR_API_BASE_URL', value: googleCalendarApiBaseUrl }
        { name: 'GOOGLE_CALENDAR_MAX_CONCURRENCY', value: string(googleCalendarMaxConcurrency) }
        { name: 'GOOGLE_CALENDAR_REQUESTS_PER_MINUTE', value: string(googleCalendarRequestsPerMinute) }
        { name: 'GOOGLE_CALENDAR_PAGE_SIZE', value: string(googleCalendarPageSize) }
        { name: 'GOOGLE_CALENDAR_LIST_ROOMS', value: googleCalendarListRooms ? 'true' : 'false' }
        { name: 'GOOGLE_CALENDAR_CUSTOMER', value: googleCalendarCustomer }
        { name: 'GOOGLE_CALENDAR_DIRECTORY_API_BASE_URL', value: googleCalendarDirectoryApiBaseUrl }
        // CalDAV: a username and password (Basic) or a bearer token, never both set
        { name: 'CALDAV_URL', value: caldavUrl }
        { name: 'CALDAV_USERNAME', value: usesCaldavBearer ? '' : caldavUsername }
        { name: 'CALDAV_PASSWORD', value: secretsInUse.caldavPassword ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.caldavPassword})' : '' }
        { name: 'CALDAV_TOKEN', value: secretsInUse.caldavToken ? '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.caldavToken})' : '' }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Paths App Service Authentication lets through without a sign-in: the webhooks calendar
// systems deliver to (they authenticate by client state or signature, and cannot sign
// in), and the booking system's own routes (it presents its function key). Everything
// else, the status page and the management routes included, needs a sign-in first, and
// then its function key as before.
var signInExcludedPaths = [
  '/bridges/webhook/*'
  '/webhook/outlook-notifications'
  '/webhook/outlook-lifecycle'
  '/sync/item/*'
  '/cancel/booking/*'
  // The API contract: built from code alone, holding no key or setting of the deployment.
  '/openapi.json'
]

resource authSettings 'Microsoft.Web/sites/config@2024-11-01' = if (enableEntraSignIn) {
  // The scanner reads this sign-in configuration as a whole site and runs the site's
  // checks on it; the site above carries (or answers) them:
  // checkov:skip=CKV_AZURE_13: this resource is the App Service Authentication the check asks for; the scanner misreads the config child as a site
  // checkov:skip=CKV_AZURE_63: HTTP logs go to Application Insights from the site; a config child has no logging of its own
  // checkov:skip=CKV_AZURE_65: detailed error pages are a site setting; a config child has none
  // checkov:skip=CKV_AZURE_66: failed request tracing is a site setting; a config child has none
  // checkov:skip=CKV_AZURE_80: a Python app on Flex Consumption runs no .NET Framework
  // checkov:skip=CKV_AZURE_88: Flex Consumption deploys from a blob container; Azure Files does not apply
  // checkov:skip=CKV_AZURE_222: same reason as on the site: calendar systems deliver webhooks over the internet
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: entraSignInUnauthenticatedAction
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: signInExcludedPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: entraSignInClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          // Tokens scripts get with `az account get-access-token --resource api://<client id>`
          // and the sign-in's own ID tokens.
          allowedAudiences: [
            'api://${entraSignInClientId}'
            entraSignInClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// Publishing goes through Microsoft Entra ID (Core Tools, az CLI); the FTP and SCM
// basic-auth credentials are switched off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output webhookBaseUrl string = effectiveWebhookBaseUrl
