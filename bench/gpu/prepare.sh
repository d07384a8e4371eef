#!/bin/sh
# Run HERE (a machine with the npm registry and Debian's apt), once, before a
# device call: packs what the GPU machine cannot fetch (it reaches nothing
# outside) into two ignored folders that the call carries:
#   .gpu/deno.xz, .gpu/node_modules.tar.xz   Deno and the npm packages (~42 MB)
#   .gpu/deno_dir.tar.xz                     the npm registry metadata Deno checks
#                                            node_modules against (without it, every
#                                            deno process there tries the registry)
#   .gl/*.deb                                the Vulkan/EGL loaders
# Then, with the device tool:
#   run(command: "sh bench/gpu/check.sh", carry: [".gpu", ".gl"], timeout_s: 600)
# See bench/gpu/check.sh for what it runs and what comes back.
set -eu
cd "$(dirname "$0")/../.."
for d in /.gpu/ /.gl/; do
  grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
done
mkdir -p .gpu .gl
deno_bin=$(npx --yes deno@2 eval 'console.log(Deno.execPath())')
npx --yes deno@2 install >/dev/null # node_modules as deno.lock pins it
xz -T0 -6 -c "$deno_bin" >.gpu/deno.xz
tar cf - node_modules | xz -T0 -6 >.gpu/node_modules.tar.xz
deno_dir=$(npx --yes deno@2 eval 'console.log(JSON.parse(new TextDecoder().decode(new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).outputSync().stdout)).denoDir)')
(cd "$deno_dir" && find npm -name registry.json | tar cf - -T - | xz -T0 -6) >.gpu/deno_dir.tar.xz
# The loaders, as the device tool's README says (amd64 packages, any host).
lists=/tmp/memcap-apt-amd64
mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
du -sh .gpu .gl
