import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'operatorToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'Operator token (OPERATOR_TOKEN).',
  });
  registry.registerComponent('securitySchemes', 'partnerApiKey', {
    type: 'http',
    scheme: 'bearer',
    description:
      'Partner API key `chk_<keyId>_<secret>`, issued once at onboarding (also accepted as X-Api-Key).',
  });
  return registry;
}

export function generateOpenApi(registry: OpenAPIRegistry, serverUrl: string): object {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Clearhouse API',
      version: '0.1.0',
      description:
        'Durable settlement back-office. Amounts are decimal strings, never JSON numbers. ' +
        'Every error uses one format: `{ "error": { "code", "message", "details": [{ "path", "message" }] } }`.',
    },
    servers: [{ url: serverUrl }],
  });
}
