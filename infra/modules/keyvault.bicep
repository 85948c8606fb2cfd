// Key Vault holding calbridge's secrets. Access is Azure RBAC only (no access
// policies); the app reads secrets through Key Vault references resolved with its
// user-assigned identity (Key Vault Secrets User, assigned in rbac.bicep).
//
// A secret parameter left empty creates no secret version, so a redeployment
// without the secret keeps the value the vault already holds; pass a new value
// to rotate it.

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

@description('Shared secret the booking system signs its webhooks with (BOOKING_SYSTEM_WEBHOOK_SECRET).')
@secure()
param bookingSystemWebhookSecret string = ''

@description('OAuth2 client secret for the booking system, when it uses client credentials (BOOKING_SYSTEM_CLIENT_SECRET).')
@secure()
param bookingSystemClientSecret string = ''

@description('Days a deleted vault or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Tags for the resources.')
param tags object = {}

// Secret names in the vault; the app settings reference them by these names.
var secretNames = {
  outlookClientSecret: 'outlook-client-secret'
  bookingSystemApiKey: 'booking-system-api-key'
  bookingSystemWebhookSecret: 'booking-system-webhook-secret'
  bookingSystemClientSecret: 'booking-system-client-secret'
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
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
  parent: vault
  name: secretNames.outlookClientSecret
  properties: {
    value: outlookClientSecret
    contentType: 'text/plain'
  }
}

resource bookingSystemApiKeyValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(bookingSystemApiKey)) {
  parent: vault
  name: secretNames.bookingSystemApiKey
  properties: {
    value: bookingSystemApiKey
    contentType: 'text/plain'
  }
}

resource bookingSystemWebhookSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(bookingSystemWebhookSecret)) {
  parent: vault
  name: secretNames.bookingSystemWebhookSecret
  properties: {
    value: bookingSystemWebhookSecret
    contentType: 'text/plain'
  }
}

resource bookingSystemClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(bookingSystemClientSecret)) {
  parent: vault
  name: secretNames.bookingSystemClientSecret
  properties: {
    value: bookingSystemClientSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output secretNames object = secretNames
