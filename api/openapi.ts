import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'operatorToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      "An operator's signed token (JWT: `npm run cli -- operator:token --name ana --role approver`, or the configured " +
      'OIDC issuer). The scopes listed on an operation are the role it needs (`x-required-role`); any role may read. ' +
      'OPERATOR_TOKEN, when set, is the bootstrap administrator (admin, resolver, viewer; never an approver).',
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
