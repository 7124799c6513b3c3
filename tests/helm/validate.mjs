// validate.mjs: schema check of rendered Kubernetes manifests, offline.
//
//   .tools/helm template t helm/bitdex --kube-version 1.30.0 | node tests/helm/validate.mjs -
//   node tests/helm/validate.mjs rendered.yaml
//
// For every document: the apiVersion must be a GA one (the chart targets Kubernetes >= 1.27, where
// the beta APIs it could use, such as policy/v1beta1 PDBs, are removed), apiVersion/kind must
// exist in the Kubernetes API (kubernetes-models, generated from the Kubernetes OpenAPI), the
// object must validate against its OpenAPI schema (types, required fields, enums, int ports on
// gRPC probes), and it must contain no field the API does not know (walked with the attribute
// maps of @kubernetes/client-node, which the OpenAPI validators do not check). Then a few
// bitdex-specific rules that a cluster would only reveal at run time.
//
// The packages live in .tools/npm/validate (scripts/install-tools.sh); BITDEX_TOOLS overrides.
// Exit 0 when everything is valid, 1 with one line per problem otherwise.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tools = resolve(process.env.BITDEX_TOOLS || join(here, "..", "..", ".tools"));
const nm = join(tools, "npm", "validate", "node_modules");
if (!existsSync(join(nm, "kubernetes-models"))) {
    console.error(`validate: ${nm}/kubernetes-models missing; run scripts/install-tools.sh`);
    process.exit(2);
}
const imp = (p) => import(pathToFileURL(join(nm, p)).href);

const YAML = await imp("yaml/dist/index.js");
// Only the generated models: importing @kubernetes/client-node's root crashes on Node 20.
const models = await imp("@kubernetes/client-node/dist/gen/models/all.js");

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// --- unknown fields -----------------------------------------------------------------------
const SCALARS = new Set(["string", "number", "boolean", "Date", "any", "object", "IntOrString"]);

function walk(value, type, path, where) {
    if (value === null || value === undefined) return;
    let m;
    if ((m = /^Array<(.+)>$/.exec(type))) {
        if (!Array.isArray(value)) return; // type errors are the OpenAPI validator's job
        value.forEach((v, i) => walk(v, m[1], `${path}[${i}]`, where));
        return;
    }
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
        if (typeof value !== "object") return;
        for (const [k, v] of Object.entries(value)) walk(v, m[1], `${path}.${k}`, where);
        return;
    }
    if (SCALARS.has(type)) return;
    const cls = models[type];
    if (!cls || typeof cls.getAttributeTypeMap !== "function") return; // unknown: accept
    if (typeof value !== "object" || Array.isArray(value)) return;
    const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [k, v] of Object.entries(value)) {
        if (!attrs.has(k)) {
            problem(where, `unknown field ${path}.${k}`);
            continue;
        }
        walk(v, attrs.get(k), `${path}.${k}`, where);
    }
}

// --- OpenAPI schema + API existence --------------------------------------------------------
async function modelFor(apiVersion, kind) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const dir = group === "" ? version : `${group}/${version}`;
    const file = join(nm, "kubernetes-models", dir, `${kind}.js`);
    if (!existsSync(file)) return null;
    const mod = await import(pathToFileURL(file).href);
    return mod[kind] || null;
}

function clientTypeName(apiVersion, kind) {
    const version = apiVersion.split("/").pop();
    return `${version[0].toUpperCase()}${version.slice(1)}${kind}`; // v1 Deployment -> V1Deployment
}

// --- bitdex rules --------------------------------------------------------------------------
function checkPodSpec(spec, where) {
    if (!spec) return;
    const sc = spec.securityContext || {};
    if (sc.runAsNonRoot !== true) problem(where, "pod securityContext.runAsNonRoot must be true");
    for (const c of spec.containers || []) {
        const cw = `${where} container ${c.name}`;
        const csc = c.securityContext || {};
        if (csc.readOnlyRootFilesystem !== true) problem(cw, "readOnlyRootFilesystem must be true");
        if (csc.allowPrivilegeEscalation !== false)
            problem(cw, "allowPrivilegeEscalation must be false");
        for (const p of ["livenessProbe", "readinessProbe", "startupProbe"]) {
            const probe = c[p];
            if (!probe) {
                problem(cw, `${p} missing`);
                continue;
            }
            if (!probe.grpc) problem(cw, `${p} must be a gRPC probe`);
            else if (!Number.isInteger(probe.grpc.port))
                problem(cw, `${p}.grpc.port must be a number (named ports are rejected)`);
        }
        if (!c.resources || !c.resources.requests) problem(cw, "resources.requests missing");
    }
}

function checkBitdex(doc, where) {
    if (doc.kind !== "Deployment") return;
    const pod = doc.spec && doc.spec.template && doc.spec.template.spec;
    checkPodSpec(pod, where);
    const grace = pod && pod.terminationGracePeriodSeconds;
    for (const c of (pod && pod.containers) || []) {
        const arg = (c.args || []).find((a) => a.startsWith("--grace-ms="));
        if (arg && !(grace * 1000 > Number(arg.split("=")[1])))
            problem(where, `terminationGracePeriodSeconds ${grace} s <= ${arg}`);
        const ready = c.readinessProbe && c.readinessProbe.grpc && c.readinessProbe.grpc.service;
        const want = { writer: "bitdex.v1.Writer", reader: "bitdex.v1.Query" }[c.name];
        if (want && ready !== want)
            problem(where, `readiness probe service is ${JSON.stringify(ready)}, want ${want}`);
    }
}

// --- main ----------------------------------------------------------------------------------
const arg = process.argv[2] || "-";
const text = readFileSync(arg === "-" ? 0 : arg, "utf8");
const docs = YAML.parseAllDocuments(text);
let count = 0;
for (const d of docs) {
    if (d.errors && d.errors.length) {
        problem("yaml", d.errors.map((e) => e.message).join("; "));
        continue;
    }
    const doc = d.toJS();
    if (doc === null || doc === undefined) continue;
    count++;
    const where = `${doc.kind || "?"}/${(doc.metadata && doc.metadata.name) || "?"}`;
    if (!doc.apiVersion || !doc.kind) {
        problem(where, "apiVersion and kind are required");
        continue;
    }
    // The chart targets Kubernetes >= 1.27: only GA APIs (every beta one it could use is gone).
    if (/(alpha|beta)/.test(doc.apiVersion) || doc.apiVersion.startsWith("extensions/")) {
        problem(where, `${doc.apiVersion} is not a GA API (removed or unstable)`);
        continue;
    }
    const Model = await modelFor(doc.apiVersion, doc.kind);
    if (!Model) {
        problem(where, `no such API: ${doc.apiVersion} ${doc.kind} (removed or misspelled)`);
        continue;
    }
    try {
        new Model(doc).validate();
    } catch (e) {
        const details = (e.errors || [])
            .map((x) => `${x.instancePath || "/"} ${x.message || x.keyword}`)
            .join("; ");
        problem(where, `schema: ${details || e.message}`);
    }
    walk(doc, clientTypeName(doc.apiVersion, doc.kind), "", where);
    checkBitdex(doc, where);
}
if (count === 0) problem("input", "no manifests");
if (problems.length) {
    for (const p of problems) console.error(`validate: ${p}`);
    console.error(`validate: ${problems.length} problem(s) in ${count} manifest(s)`);
    process.exit(1);
}
console.log(`validate: ${count} manifests OK`);
