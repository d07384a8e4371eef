// Prints the adapter memcap gets (what GET /v1/health reports as gpu), as JSON.
import { getGpu } from "../../gpu/device.ts";

const { info } = await getGpu();
console.log(JSON.stringify(info, null, 2));
