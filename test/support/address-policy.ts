import { setAddressPolicy } from '../../platform/address-policy';

// Tests run their simulated providers, FX service and webhook receivers on loopback, as the
// development configuration does (the address policy's allow-list).
setAddressPolicy({ allowedHosts: ['localhost', '127.0.0.1', '::1'] });
