// Key Vault holding calbridge's secrets. Access is Azure RBAC only (no access
// policies); the app reads secrets through Key Vault references resolved with its
// user-assigned identity (Key Vault Secrets User, assigned in rbac.bicep).
//
// Every deployment writes the secrets it is given (a new value is a new version: that
// is how a secret is rotated). A credential left empty belongs to a bridge or a way of
// signing in that is not enabled (main.bicep stops a deployment that leaves out one in
// use), so it writes nothing.

@description('Name of the Key Vault (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Microsoft Graph app registration client secret (OUTLOOK_CLIENT_SECRET).')
@secure()
param outlookClientSecret string = ''

@description('API key the bridge sends to the booking system (BOOKING_SYSTEM_API_KEY).')
@secure()
param bookingSystemApiKey string = ''

@description('Shared secret the booking system signs its webhooks with (BOOKING_SYSTEM_WEBHOOK_SECRET); required.')
@secure()
param bookingSystemWebhookSecret string

@description('OAuth2 client secret for the booking system, when it uses client credentials (BOOKING_SYSTEM_CLIENT_SECRET).')
@secure()
param bookingSystemClientSecret string = ''

@description('Key the booking system calls calbridge with (CALBRIDGE_BOOKING_SYSTEM_KEY); required.')
@secure()
param calbridgeBookingSystemKey string

@description('The operator\'s key the status page checks (CALBRIDGE_FUNCTION_KEY); required.')
@secure()
param calbridgeOperatorKey string

@description('Key push subscriptions\' client states are hashed under (CALBRIDGE_PUSH_SECRET_KEY); required.')
@secure()
param calbridgePushSecretKey string

@description('Google service account JSON key, for domain-wide delegation (GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY).')
@secure()
param googleCalendarServiceAccountKey string = ''

@description('Google OAuth client secret, with a refresh token (GOOGLE_CALENDAR_CLIENT_SECRET).')
@secure()
param googleCalendarClientSecret string = ''

@description('Google OAuth refresh token of the account calbridge acts as (GOOGLE_CALENDAR_REFRESH_TOKEN).')
@secure()
param googleCalendarRefreshToken string = ''

@description('Password of the CalDAV account calbridge signs in as, with Basic authentication (CALDAV_PASSWORD).')
@secure()
param caldavPassword string = ''

@description('Bearer token for the CalDAV server, in place of a username and password (CALDAV_TOKEN).')
@secure()
param caldavToken string = ''

@description('Days a deleted vault or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('How long a secret stays valid after it is set (ISO 8601 duration); match the credential\'s lifetime at its issuer. Expiry is a rotation signal: Key Vault still returns an expired secret.')
param secretLifetime string = 'P1Y'

@description('Deployment time; the expiry of a secret set by this deployment counts from it.')
param deploymentTime string = utcNow()

@description('Tags for the resources.')
param tags object = {}

var secretExpiry = dateTimeToEpoch(dateTimeAdd(deploymentTime, secretLifetime))

// Secret names in the vault; the app settings reference them by these names.
var secretNames = {
  outlookClientSecret: 'outlook-client-secret'
  bookingSystemApiKey: 'booking-system-api-key'
  bookingSystemWebhookSecret: 'booking-system-webhook-secret'
  bookingSystemClientSecret: 'booking-system-client-secret'
  calbridgeBookingSystemKey: 'calbridge-booking-system-key'
  calbridgeOperatorKey: 'calbridge-operator-key'
  calbridgePushSecretKey: 'calbridge-push-secret-key'
  googleCalendarServiceAccountKey: 'google-calendar-service-account-key'
  googleCalendarClientSecret: 'google-calendar-client-secret'
  googleCalendarRefreshToken: 'google-calendar-refresh-token'
  caldavPassword: 'caldav-password'
  caldavToken: 'caldav-token'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: the app resolves Key Vault references over the public endpoint (no virtual network); access is Azure RBAC only
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109; enableRbacAuthorization and one data-plane role for one identity guard the secrets
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // App Service resolves Key Vault references over the public endpoint unless the
      // app is integrated into a virtual network; RBAC is what guards the secrets.
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource outlookClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(outlookClientSecret)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.outlookClientSecret
  properties: {
    value: outlookClientSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource bookingSystemApiKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(bookingSystemApiKey)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.bookingSystemApiKey
  properties: {
    value: bookingSystemApiKey
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

// Required on every deployment (no empty default), so never written empty.
resource bookingSystemWebhookSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.bookingSystemWebhookSecret
  properties: {
    value: bookingSystemWebhookSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource bookingSystemClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(bookingSystemClientSecret)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.bookingSystemClientSecret
  properties: {
    value: bookingSystemClientSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

// Required on every deployment (no empty default), so never written empty.
resource calbridgeBookingSystemKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.calbridgeBookingSystemKey
  properties: {
    value: calbridgeBookingSystemKey
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource calbridgeOperatorKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.calbridgeOperatorKey
  properties: {
    value: calbridgeOperatorKey
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource calbridgePushSecretKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretNames.calbridgePushSecretKey
  properties: {
    value: calbridgePushSecretKey
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource googleCalendarServiceAccountKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleCalendarServiceAccountKey)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.googleCalendarServiceAccountKey
  properties: {
    value: googleCalendarServiceAccountKey
    contentType: 'application/json'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource googleCalendarClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleCalendarClientSecret)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.googleCalendarClientSecret
  properties: {
    value: googleCalendarClientSecret
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource googleCalendarRefreshTokenValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleCalendarRefreshToken)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.googleCalendarRefreshToken
  properties: {
    value: googleCalendarRefreshToken
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource caldavPasswordValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(caldavPassword)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.caldavPassword
  properties: {
    value: caldavPassword
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

resource caldavTokenValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(caldavToken)) {
  // checkov:skip=CKV_AZURE_41: exp is set below; the scanner does not read the body of a conditional resource
  // checkov:skip=CKV_AZURE_114: contentType is set below; the scanner does not read the body of a conditional resource
  parent: vault
  name: secretNames.caldavToken
  properties: {
    value: caldavToken
    contentType: 'text/plain'
    attributes: {
      exp: secretExpiry
    }
  }
}

output name string = vault.name
output id string = vault.id
output secretNames object = secretNames
