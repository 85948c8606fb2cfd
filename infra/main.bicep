// calbridge on Azure: a Function App on the Flex Consumption plan with its storage,
// Key Vault, monitoring and managed identity. Deploy into an existing resource group:
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json \
//     -p outlookClientSecret=... bookingSystemApiKey=... bookingSystemWebhookSecret=... \
//        calbridgeBookingSystemKey=... calbridgeOperatorKey=... calbridgePushSecretKey=...
// Every resource is declared in a module under ./modules; this file only names them
// and wires their outputs together.

targetScope = 'resourceGroup'

// ---- naming and placement ------------------------------------------------------

@description('Prefix of every resource name (lowercase letters, digits and hyphens).')
@minLength(2)
@maxLength(20)
param namePrefix string = 'calbridge'

@description('Azure region of every resource; it must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@description('Tags for every resource.')
param tags object = {
  application: 'calbridge'
}

// ---- scale ---------------------------------------------------------------------

@description('Memory of each Function App instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the Function App scales out to. Without calbridgeSharedPacing each instance paces Microsoft Graph on its own, with its share of a mailbox\'s limits: OUTLOOK_MAX_CONCURRENCY is outlookMaxConcurrency split over the instances (at least 1 each), so up to 4 instances keep every mailbox within Exchange\'s 4 concurrent requests, and OUTLOOK_REQUESTS_PER_10_MIN is outlookRequestsPer10Min split likewise (infra/README.md).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Always-ready instances for the HTTP functions; 0 (the default) scales to zero when idle.')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('Redundancy of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Days Log Analytics keeps the app\'s logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---- calbridge -----------------------------------------------------------------

@description('CALBRIDGE_BRIDGES: comma-separated bridges to enable, each name or name=type.')
param calbridgeBridges string = 'booking_system,outlook'

@description('CALBRIDGE_BOOKING_BRIDGE: which bridge is the booking side of resource mappings.')
param calbridgeBookingBridge string = 'booking_system'

@description('CALBRIDGE_TABLE_PREFIX: prefix of table names, to share one storage account (letters and digits).')
param calbridgeTablePrefix string = ''

@description('CALBRIDGE_MAX_BODY_BYTES: largest accepted request body; larger bodies get 413.')
@minValue(1)
param calbridgeMaxBodyBytes int = 1048576

@description('CALBRIDGE_HTTP_TIMEOUT_SECONDS: timeout of every outbound call to a calendar system.')
@minValue(1)
param calbridgeHttpTimeoutSeconds int = 30

@description('SYNC_SCHEDULE: NCRONTAB schedule of the two-way sync of every active mapping (and due retries).')
param syncSchedule string = '0 */5 * * * *'

@description('DELETION_SYNC_SCHEDULE: NCRONTAB schedule of deletion detection from complete listings.')
param deletionSyncSchedule string = '0 */10 * * * *'

@description('CALBRIDGE_SYNC_PAST_DAYS: days before today that sync looks at.')
@minValue(0)
param calbridgeSyncPastDays int = 30

@description('CALBRIDGE_SYNC_FUTURE_DAYS: days after today that sync looks at.')
@minValue(1)
param calbridgeSyncFutureDays int = 365

@description('CALBRIDGE_RECURRENCE_HORIZON_DAYS: days ahead that the occurrences of a recurring series become one event each in a calendar without recurrence.')
@minValue(1)
@maxValue(3650)
param calbridgeRecurrenceHorizonDays int = 365

@description('CALBRIDGE_MAX_ATTEMPTS: attempts before a failing operation is left for an operator.')
@minValue(1)
param calbridgeMaxAttempts int = 8

@description('CALBRIDGE_MASS_DELETE_SHARE: share of the linked events of a calendar whose deletion in one run is held for confirmation.')
param calbridgeMassDeleteShare string = '0.2'

@description('CALBRIDGE_MASS_DELETE_MIN: smallest number of deletions the mass-deletion guard holds.')
@minValue(1)
param calbridgeMassDeleteMin int = 10

@description('CALBRIDGE_MASS_DELETE_WINDOW_MINUTES: minutes over which deletions arriving one by one (webhooks, queued work) are measured together by the mass-deletion guard.')
@minValue(1)
@maxValue(1440)
param calbridgeMassDeleteWindowMinutes int = 10

@description('CALBRIDGE_INLINE_OPERATIONS: operations a sync run applies itself before queueing the rest.')
@minValue(1)
param calbridgeInlineOperations int = 200

@description('CALBRIDGE_WEBHOOK_APPLY_NOW: a webhook request announcing at most this many changes has them synced at once; 0 leaves all to the notifications queue.')
@minValue(0)
@maxValue(50)
param calbridgeWebhookApplyNow int = 10
@description('CALBRIDGE_SYNC_BUDGET_SECONDS: seconds a sync request writes before it answers and queues the rest (Azure ends an HTTP call after about 230).')
@minValue(0)
@maxValue(220)
param calbridgeSyncBudgetSeconds int = 150

@description('CALBRIDGE_SYNC_WORKERS: operations one sync run applies at the same time.')
@minValue(1)
@maxValue(32)
param calbridgeSyncWorkers int = 4

@description('CALBRIDGE_SHARED_PACING: hold each Outlook request\'s slot and draw the 10-minute budget in Table Storage, so a mailbox\'s limits hold across every instance of the app while one instance may use all of them (off: each instance gets its share).')
param calbridgeSharedPacing bool = false

@description('SUBSCRIPTION_RENEWAL_SCHEDULE: NCRONTAB schedule of push subscription renewal and re-creation.')
param subscriptionRenewalSchedule string = '0 */30 * * * *'

@description('POLL_SCHEDULE: NCRONTAB schedule of the polling fallback (calendars without a healthy subscription every time, the others for reconciliation).')
param pollSchedule string = '0 */1 * * * *'

@description('CALDAV_POLL_SCHEDULE: NCRONTAB schedule of the timer that polls CalDAV calendars (CalDAV has no push; a calendar that did not change costs one REPORT).')
param caldavPollSchedule string = '0 */1 * * * *'

@description('CALDAV_MAX_CONCURRENCY: writes of one sync run in flight at once against a CalDAV server (each PUT still conditional).')
@minValue(1)
@maxValue(32)
param caldavMaxConcurrency int = 4

@description('CALBRIDGE_SUBSCRIPTION_MINUTES: lifetime asked for push subscriptions (Outlook events allow at most 10080 minutes).')
@minValue(45)
@maxValue(10070)
param calbridgeSubscriptionMinutes int = 10000

@description('CALBRIDGE_RECONCILE_MINUTES: how often a calendar with a healthy subscription is still polled.')
@minValue(1)
@maxValue(1440)
param calbridgeReconcileMinutes int = 30

@description('Public HTTPS base URL for webhooks when the app sits behind a custom domain or gateway; empty uses the app\'s default host name.')
param webhookBaseUrl string = ''

// ---- booking system --------------------------------------------------------------

@description('BOOKING_SYSTEM_BASE_URL: base URL of the booking system\'s /api/events contract.')
param bookingSystemBaseUrl string

@description('BOOKING_SYSTEM_API_KEY_HEADER: header that carries the API key.')
param bookingSystemApiKeyHeader string = 'X-API-Key'

@description('BOOKING_SYSTEM_TOKEN_URL: OAuth2 token URL; leave empty to authenticate with the API key.')
param bookingSystemTokenUrl string = ''

@description('BOOKING_SYSTEM_CLIENT_ID: OAuth2 client id, with bookingSystemTokenUrl.')
param bookingSystemClientId string = ''

@description('BOOKING_SYSTEM_SCOPE: OAuth2 scope, optional.')
param bookingSystemScope string = ''

@description('Secret: API key sent to the booking system. Stored in Key Vault; required with a booking_system bridge that authenticates with an API key (no bookingSystemTokenUrl).')
@secure()
param bookingSystemApiKey string = ''

@description('Secret: OAuth2 client secret for the booking system. Stored in Key Vault; required with a booking_system bridge and bookingSystemTokenUrl.')
@secure()
param bookingSystemClientSecret string = ''

@description('Secret: shared secret the booking system signs its change webhooks with (at least 32 characters, e.g. openssl rand -base64 32). Required: stored in Key Vault; without it calbridge would have to refuse every booking webhook.')
@secure()
@minLength(32)
param bookingSystemWebhookSecret string

@description('Secret: CALBRIDGE_BOOKING_SYSTEM_KEY, the key the booking system calls calbridge with (it reaches only /sync/item/... and /cancel/booking/...). Required: stored in Key Vault; also set it as the host key booking-system (infra/README.md).')
@secure()
@minLength(32)
param calbridgeBookingSystemKey string

@description('Secret: CALBRIDGE_FUNCTION_KEY, the operator\'s key the status page (/dashboard) checks itself (Azure\'s function keys cannot be presented through its session cookie). Required: stored in Key Vault; also set it as the host key operator, so one key reaches the page and every management route (infra/README.md).')
@secure()
@minLength(32)
param calbridgeOperatorKey string

@description('Secret: CALBRIDGE_PUSH_SECRET_KEY, the key push subscriptions\' client states are stored under as keyed hashes (at least 32 characters, e.g. openssl rand -base64 32). Required: stored in Key Vault; keep it across deployments (a new key makes the stored subscriptions fail to verify until they are created again).')
@secure()
@minLength(32)
param calbridgePushSecretKey string

// ---- Outlook / Microsoft Graph ---------------------------------------------------

@description('OUTLOOK_TENANT_ID: Microsoft Entra tenant of the app registration.')
param outlookTenantId string = tenant().tenantId

@description('OUTLOOK_CLIENT_ID: application (client) id with Calendars.ReadWrite and Place.Read.All application permissions.')
param outlookClientId string = ''

@description('Secret: client secret of the app registration. Stored in Key Vault; required with an outlook bridge.')
@secure()
param outlookClientSecret string = ''

@description('OUTLOOK_AUTHORITY_HOST: Microsoft Entra login host (differs in national clouds).')
param outlookAuthorityHost string = 'https://login.microsoftonline.com'

@description('GRAPH_BASE_URL: Microsoft Graph endpoint (differs in national clouds).')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('OUTLOOK_MAILBOXES: comma-separated room or user mailboxes, used when Places is not available or outlookCalendarSource is mailboxes.')
param outlookMailboxes string = ''

@description('OUTLOOK_CALENDAR_SOURCE: places (rooms from Graph Places) or mailboxes (exactly OUTLOOK_MAILBOXES).')
@allowed([
  'places'
  'mailboxes'
])
param outlookCalendarSource string = 'places'

@description('Concurrent Graph requests per mailbox for the whole app (Exchange allows 4); each instance gets its share as OUTLOOK_MAX_CONCURRENCY (see maximumInstanceCount).')
@minValue(1)
@maxValue(4)
param outlookMaxConcurrency int = 4

@description('Graph request budget per mailbox per 10 minutes for the whole app; each instance gets its share as OUTLOOK_REQUESTS_PER_10_MIN unless pacing is shared (see maximumInstanceCount).')
@minValue(1)
param outlookRequestsPer10Min int = 10000

@description('OUTLOOK_PAGE_SIZE: events per Graph page.')
@minValue(1)
@maxValue(1000)
param outlookPageSize int = 100

@description('OUTLOOK_WRITE_ATTENDEES: copy attendees into Outlook events (Exchange then sends them invitations).')
param outlookWriteAttendees bool = false

@description('OUTLOOK_ORGANIZER_AS_ATTENDEE: add the booker as an attendee of Outlook copies (Exchange then sends them an invitation).')
param outlookOrganizerAsAttendee bool = false

// ---- Google Calendar -------------------------------------------------------------

@description('How the google_calendar bridge signs in: service_account (a service account key with domain-wide delegation to googleCalendarSubject) or oauth (one account\'s client id, secret and refresh token).')
@allowed([
  'service_account'
  'oauth'
])
param googleCalendarAuth string = 'service_account'

@description('Secret: Google service account JSON key. Stored in Key Vault; required with a google_calendar bridge and googleCalendarAuth service_account.')
@secure()
param googleCalendarServiceAccountKey string = ''

@description('GOOGLE_CALENDAR_SUBJECT: the Workspace user the service account acts as (domain-wide delegation).')
param googleCalendarSubject string = ''

@description('GOOGLE_CALENDAR_CLIENT_ID: OAuth client id, with googleCalendarAuth oauth.')
param googleCalendarClientId string = ''

@description('Secret: Google OAuth client secret. Stored in Key Vault; required with a google_calendar bridge and googleCalendarAuth oauth.')
@secure()
param googleCalendarClientSecret string = ''

@description('Secret: Google OAuth refresh token. Stored in Key Vault; required with a google_calendar bridge and googleCalendarAuth oauth.')
@secure()
param googleCalendarRefreshToken string = ''

@description('GOOGLE_CALENDAR_TOKEN_URI: Google OAuth 2.0 token endpoint.')
param googleCalendarTokenUri string = 'https://oauth2.googleapis.com/token'

@description('GOOGLE_CALENDAR_API_BASE_URL: Google Calendar API v3 endpoint.')
param googleCalendarApiBaseUrl string = 'https://www.googleapis.com/calendar/v3'

@description('GOOGLE_CALENDAR_MAX_CONCURRENCY: concurrent Calendar API requests.')
@minValue(1)
@maxValue(16)
param googleCalendarMaxConcurrency int = 4

@description('GOOGLE_CALENDAR_REQUESTS_PER_MINUTE: request budget of the user calbridge acts as (Google allows 600 a minute per user).')
@minValue(1)
@maxValue(600)
param googleCalendarRequestsPerMinute int = 500

@description('GOOGLE_CALENDAR_PAGE_SIZE: events per Calendar API page.')
@minValue(1)
@maxValue(2500)
param googleCalendarPageSize int = 250

@description('GOOGLE_CALENDAR_LIST_ROOMS: also list the Workspace\'s room calendars (Admin SDK Directory API); the subject must be an administrator and the delegation must cover admin.directory.resource.calendar.readonly.')
param googleCalendarListRooms bool = false

@description('GOOGLE_CALENDAR_CUSTOMER: the Workspace customer id whose rooms are listed (my_customer: the subject\'s own).')
param googleCalendarCustomer string = 'my_customer'

@description('GOOGLE_CALENDAR_DIRECTORY_API_BASE_URL: Admin SDK Directory API endpoint.')
param googleCalendarDirectoryApiBaseUrl string = 'https://admin.googleapis.com/admin/directory/v1'

// ---- CalDAV -------------------------------------------------------------------------

@description('CALDAV_URL: the CalDAV server\'s base URL; calendars are discovered from there. Empty when no caldav bridge is enabled.')
param caldavUrl string = ''

@description('How the caldav bridge signs in: basic (caldavUsername and the password) or bearer (a token).')
@allowed([
  'basic'
  'bearer'
])
param caldavAuth string = 'basic'

@description('CALDAV_USERNAME: the account calbridge signs in as, with caldavAuth basic.')
param caldavUsername string = ''

@description('Secret: the CalDAV account\'s password. Stored in Key Vault; required with a caldav bridge and caldavAuth basic.')
@secure()
param caldavPassword string = ''

@description('Secret: a bearer token for the CalDAV server. Stored in Key Vault; required with a caldav bridge and caldavAuth bearer.')
@secure()
param caldavToken string = ''

// ---- sign-in over the status page and management routes ---------------------------

@description('Require a Microsoft Entra ID sign-in (App Service Authentication) before the status page and the management routes; the webhooks and the booking system\'s routes stay reachable without one. Off by default (infra/README.md).')
param enableEntraSignIn bool = false

@description('Application (client) id of the app registration people sign in with; required with enableEntraSignIn.')
param entraSignInClientId string = ''

@description('What a request without a sign-in gets, with enableEntraSignIn: RedirectToLoginPage (a browser opening the status page is sent to sign in; scripts get a redirect too) or Return401 (for deployments used only through scripts and API clients).')
@allowed([
  'RedirectToLoginPage'
  'Return401'
])
param entraSignInUnauthenticatedAction string = 'RedirectToLoginPage'

// ---- secrets the enabled bridges need -----------------------------------------------
// A credential issued by a calendar system is needed only while its bridge (and that way
// of signing in) is enabled. Needed but empty, it stops the deployment before anything
// is written, naming the parameter: ARM evaluates only the branch of a condition it
// takes, and looking up a property that an empty object lacks fails with the property's
// name in the error. (Bicep's fail() would say it plainly, but the IaC scanner cannot
// parse it.) Bridges are `name` or `name=type`; a name that is also a type name counts as it.

var bridgeNamesAndTypes = split(replace(replace(calbridgeBridges, ' ', ''), '=', ','), ',')
var usesBookingSystem = contains(bridgeNamesAndTypes, 'booking_system')
var usesOutlook = contains(bridgeNamesAndTypes, 'outlook')
var usesGoogleCalendar = contains(bridgeNamesAndTypes, 'google_calendar')
var usesCaldav = contains(bridgeNamesAndTypes, 'caldav')
var usesBookingOAuth = !empty(bookingSystemTokenUrl)
var usesGoogleOAuth = googleCalendarAuth == 'oauth'
var usesCaldavBearer = caldavAuth == 'bearer'
var secretsInUse = {
  outlookClientSecret: usesOutlook
  bookingSystemApiKey: usesBookingSystem && !usesBookingOAuth
  bookingSystemClientSecret: usesBookingSystem && usesBookingOAuth
  googleCalendarServiceAccountKey: usesGoogleCalendar && !usesGoogleOAuth
  googleCalendarClientSecret: usesGoogleCalendar && usesGoogleOAuth
  googleCalendarRefreshToken: usesGoogleCalendar && usesGoogleOAuth
  caldavPassword: usesCaldav && !usesCaldavBearer
  caldavToken: usesCaldav && usesCaldavBearer
}
var missing = {}
// The message names the parameter and the bridges that need it; it includes a parameter's
// value so that Bicep cannot know the property name and refuse it at build time.
var requiredWhile = '{0} is required with calbridgeBridges={1} ({2})'

// ---- names -----------------------------------------------------------------------

var token = uniqueString(subscription().id, resourceGroup().id, namePrefix)
var compactPrefix = take(replace(toLower(namePrefix), '-', ''), 9)
var names = {
  identity: 'id-${namePrefix}-${token}'
  storage: 'st${compactPrefix}${token}'
  keyVault: 'kv${compactPrefix}${token}'
  logAnalytics: 'log-${namePrefix}-${token}'
  applicationInsights: 'appi-${namePrefix}-${token}'
  plan: 'plan-${namePrefix}-${token}'
  functionApp: 'func-${namePrefix}-${token}'
  deploymentContainer: 'app-package'
}

// ---- resources -------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    skuName: storageSkuName
    deploymentContainerName: names.deploymentContainer
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    location: location
    outlookClientSecret: secretsInUse.outlookClientSecret ? (empty(outlookClientSecret) ? missing[format(requiredWhile, 'outlookClientSecret', calbridgeBridges, 'an outlook bridge is enabled')] : outlookClientSecret) : ''
    bookingSystemApiKey: secretsInUse.bookingSystemApiKey ? (empty(bookingSystemApiKey) ? missing[format(requiredWhile, 'bookingSystemApiKey', calbridgeBridges, 'a booking_system bridge signs in with an API key')] : bookingSystemApiKey) : ''
    bookingSystemWebhookSecret: bookingSystemWebhookSecret
    bookingSystemClientSecret: secretsInUse.bookingSystemClientSecret ? (empty(bookingSystemClientSecret) ? missing[format(requiredWhile, 'bookingSystemClientSecret', calbridgeBridges, 'a booking_system bridge signs in with bookingSystemTokenUrl')] : bookingSystemClientSecret) : ''
    calbridgeBookingSystemKey: calbridgeBookingSystemKey
    calbridgeOperatorKey: calbridgeOperatorKey
    calbridgePushSecretKey: calbridgePushSecretKey
    googleCalendarServiceAccountKey: secretsInUse.googleCalendarServiceAccountKey ? (empty(googleCalendarServiceAccountKey) ? missing[format(requiredWhile, 'googleCalendarServiceAccountKey', calbridgeBridges, 'a google_calendar bridge signs in with a service account')] : googleCalendarServiceAccountKey) : ''
    googleCalendarClientSecret: secretsInUse.googleCalendarClientSecret ? (empty(googleCalendarClientSecret) ? missing[format(requiredWhile, 'googleCalendarClientSecret', calbridgeBridges, 'a google_calendar bridge signs in with oauth')] : googleCalendarClientSecret) : ''
    googleCalendarRefreshToken: secretsInUse.googleCalendarRefreshToken ? (empty(googleCalendarRefreshToken) ? missing[format(requiredWhile, 'googleCalendarRefreshToken', calbridgeBridges, 'a google_calendar bridge signs in with oauth')] : googleCalendarRefreshToken) : ''
    caldavPassword: secretsInUse.caldavPassword ? (empty(caldavPassword) ? missing[format(requiredWhile, 'caldavPassword', calbridgeBridges, 'a caldav bridge signs in with basic')] : caldavPassword) : ''
    caldavToken: secretsInUse.caldavToken ? (empty(caldavToken) ? missing[format(requiredWhile, 'caldavToken', calbridgeBridges, 'a caldav bridge signs in with bearer')] : caldavToken) : ''
    tags: tags
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionApp'
  // The app's first start needs its identity to reach storage and Key Vault.
  dependsOn: [
    rbac
  ]
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    keyVaultName: keyVault.outputs.name
    secretNames: keyVault.outputs.secretNames
    secretsInUse: secretsInUse
    enableEntraSignIn: enableEntraSignIn
    entraSignInClientId: enableEntraSignIn && empty(entraSignInClientId) ? missing[format('{0} is required with enableEntraSignIn={1}', 'entraSignInClientId', enableEntraSignIn)] : entraSignInClientId
    entraSignInUnauthenticatedAction: entraSignInUnauthenticatedAction
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    calbridgeBridges: calbridgeBridges
    calbridgeBookingBridge: calbridgeBookingBridge
    calbridgeTablePrefix: calbridgeTablePrefix
    calbridgeMaxBodyBytes: calbridgeMaxBodyBytes
    calbridgeHttpTimeoutSeconds: calbridgeHttpTimeoutSeconds
    syncSchedule: syncSchedule
    deletionSyncSchedule: deletionSyncSchedule
    calbridgeSyncPastDays: calbridgeSyncPastDays
    calbridgeSyncFutureDays: calbridgeSyncFutureDays
    calbridgeRecurrenceHorizonDays: calbridgeRecurrenceHorizonDays
    calbridgeMaxAttempts: calbridgeMaxAttempts
    calbridgeMassDeleteShare: calbridgeMassDeleteShare
    calbridgeMassDeleteMin: calbridgeMassDeleteMin
    calbridgeMassDeleteWindowMinutes: calbridgeMassDeleteWindowMinutes
    calbridgeInlineOperations: calbridgeInlineOperations
    calbridgeWebhookApplyNow: calbridgeWebhookApplyNow
    calbridgeSyncWorkers: calbridgeSyncWorkers
    calbridgeSharedPacing: calbridgeSharedPacing
    calbridgeSyncBudgetSeconds: calbridgeSyncBudgetSeconds
    subscriptionRenewalSchedule: subscriptionRenewalSchedule
    pollSchedule: pollSchedule
    caldavPollSchedule: caldavPollSchedule
    caldavMaxConcurrency: caldavMaxConcurrency
    calbridgeSubscriptionMinutes: calbridgeSubscriptionMinutes
    calbridgeReconcileMinutes: calbridgeReconcileMinutes
    webhookBaseUrl: webhookBaseUrl
    bookingSystemBaseUrl: bookingSystemBaseUrl
    bookingSystemApiKeyHeader: bookingSystemApiKeyHeader
    bookingSystemTokenUrl: bookingSystemTokenUrl
    bookingSystemClientId: bookingSystemClientId
    bookingSystemScope: bookingSystemScope
    outlookTenantId: outlookTenantId
    outlookClientId: outlookClientId
    outlookAuthorityHost: outlookAuthorityHost
    graphBaseUrl: graphBaseUrl
    outlookMailboxes: outlookMailboxes
    outlookCalendarSource: outlookCalendarSource
    outlookMaxConcurrency: outlookMaxConcurrency
    outlookRequestsPer10Min: outlookRequestsPer10Min
    outlookPageSize: outlookPageSize
    outlookWriteAttendees: outlookWriteAttendees
    outlookOrganizerAsAttendee: outlookOrganizerAsAttendee
    googleCalendarAuth: googleCalendarAuth
    googleCalendarSubject: googleCalendarSubject
    googleCalendarClientId: googleCalendarClientId
    googleCalendarTokenUri: googleCalendarTokenUri
    googleCalendarApiBaseUrl: googleCalendarApiBaseUrl
    googleCalendarMaxConcurrency: googleCalendarMaxConcurrency
    googleCalendarRequestsPerMinute: googleCalendarRequestsPerMinute
    googleCalendarPageSize: googleCalendarPageSize
    googleCalendarListRooms: googleCalendarListRooms
    googleCalendarCustomer: googleCalendarCustomer
    googleCalendarDirectoryApiBaseUrl: googleCalendarDirectoryApiBaseUrl
    caldavUrl: caldavUrl
    caldavAuth: caldavAuth
    caldavUsername: caldavUsername
  }
}

// ---- outputs (no secrets) ----------------------------------------------------------

@description('Name of the Function App (for func azure functionapp publish and az functionapp keys list).')
output functionAppName string = functionApp.outputs.name

@description('Default HTTPS URL of the Function App.')
output defaultHostUrl string = 'https://${functionApp.outputs.defaultHostName}'

@description('Base URL webhook notification URLs are built from.')
output WEBHOOK_BASE_URL string = functionApp.outputs.webhookBaseUrl

@description('Name of the Key Vault holding the secrets.')
output keyVaultName string = keyVault.outputs.name

@description('Client id of the app\'s user-assigned managed identity.')
output identityClientId string = identity.outputs.clientId

@description('Name of the storage account (tables and queues).')
output storageAccountName string = storage.outputs.name

@description('Name of the Application Insights component.')
output applicationInsightsName string = monitoring.outputs.applicationInsightsName
