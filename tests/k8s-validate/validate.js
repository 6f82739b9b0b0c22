#!/usr/bin/env node
/*
 * validate.js FILE|DIR... - checks the manifests `stack export kubernetes`
 * writes against the Kubernetes schemas of kubernetes-models 4.5.1 (their
 * compiled JSON-schema validators, @kubernetes-models/validate 4.0.0).
 *
 * Those validators accept keys the schema does not define, so every object
 * is validated through a Proxy that records which keys the validator reads:
 * a compiled validator reads each property its schema defines (and every key
 * of a map it iterates), so a key it never read is not in the schema and is
 * reported. Names (DNS-1123 labels and subdomains, DNS-1035 for Services),
 * label keys and values, port numbers and port names are checked as the API
 * server's validation does (k8s.io/apimachinery/pkg/util/validation).
 *
 * Exit status: 0 when every document is valid, 1 otherwise (one line per
 * problem: FILE: KIND/NAME: PATH: message), 2 for usage errors.
 */
"use strict";

const fs = require("fs");
const net = require("net");
const path = require("path");
const YAML = require("yaml");

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function modelFor(apiVersion, kind) {
  const dir = apiVersion.includes("/") ? apiVersion : `v1`;
  if (!/^[A-Za-z0-9.\/]+$/.test(dir) || !/^[A-Za-z]+$/.test(kind)) return null;
  try {
    const mod = require(`kubernetes-models/${dir}/${kind}`);
    return mod[kind] || null;
  } catch (e) {
    return null;
  }
}

/* A deep proxy of VALUE that adds to SEEN the path of every key the validator reads. */
function tracked(value, p, seen, cache) {
  if (value === null || typeof value !== "object") return value;
  if (cache.has(value)) return cache.get(value);
  const prox = new Proxy(value, {
    get(target, key, recv) {
      if (typeof key === "string" && Object.prototype.hasOwnProperty.call(target, key)) {
        const kp = `${p}/${key}`;
        seen.add(kp);
        return tracked(target[key], kp, seen, cache);
      }
      return Reflect.get(target, key, recv);
    },
  });
  cache.set(value, prox);
  return prox;
}

function allPaths(value, p, out) {
  if (value === null || typeof value !== "object") return;
  for (const key of Object.keys(value)) {
    const kp = `${p}/${key}`;
    out.push(kp);
    allPaths(value[key], kp, out);
  }
}

function checkNames(doc, problem) {
  const kind = doc.kind;
  const meta = doc.metadata || {};
  const name = meta.name;
  const svcLike = kind === "Service";
  const labelLike = kind === "Namespace";
  if (typeof name !== "string") {
    problem("/metadata/name", "missing");
  } else if (svcLike && !(DNS1035_LABEL.test(name) && name.length <= 63)) {
    problem("/metadata/name", `'${name}' is not a DNS-1035 label`);
  } else if (labelLike && !(DNS1123_LABEL.test(name) && name.length <= 63)) {
    problem("/metadata/name", `'${name}' is not a DNS-1123 label`);
  } else if (!(DNS1123_SUBDOMAIN.test(name) && name.length <= 253)) {
    problem("/metadata/name", `'${name}' is not a DNS-1123 subdomain`);
  }
  if (meta.namespace !== undefined && !(DNS1123_LABEL.test(meta.namespace) && meta.namespace.length <= 63))
    problem("/metadata/namespace", `'${meta.namespace}' is not a DNS-1123 label`);
  const checkLabels = (labels, p, values) => {
    for (const [k, v] of Object.entries(labels || {})) {
      const slash = k.lastIndexOf("/");
      const prefix = slash >= 0 ? k.slice(0, slash) : null;
      const n = slash >= 0 ? k.slice(slash + 1) : k;
      if ((prefix !== null && !(DNS1123_SUBDOMAIN.test(prefix) && prefix.length <= 253)) ||
          !(LABEL_NAME.test(n) && n.length <= 63))
        problem(`${p}/${k}`, `'${k}' is not a label key`);
      if (values && typeof v === "string" && v !== "" && !(LABEL_NAME.test(v) && v.length <= 63))
        problem(`${p}/${k}`, `'${v}' is not a label value`);
    }
  };
  const walkMeta = (m, p) => {
    if (!m) return;
    checkLabels(m.labels, `${p}/labels`, true);
    checkLabels(m.annotations, `${p}/annotations`, false);
  };
  walkMeta(meta, "/metadata");
  const port = (v, p, min, max) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      problem(p, `${v} is not a port in ${min}-${max}`);
  };
  const portName = (v, p) => {
    if (v !== undefined && !(IANA_SVC_NAME.test(v) && v.length <= 15 && /[a-z]/.test(v) && !v.includes("--")))
      problem(p, `'${v}' is not an IANA service name`);
  };
  const podSpec = (spec, p) => {
    if (!spec) return;
    (spec.hostAliases || []).forEach((a, i) => {
      if (!net.isIP(String(a.ip))) problem(`${p}/hostAliases/${i}/ip`, `'${a.ip}' is not an IP address`);
    });
    const seen = new Set();
    for (const group of ["initContainers", "containers"]) {
      (spec[group] || []).forEach((c, i) => {
        const cp = `${p}/${group}/${i}`;
        if (!(DNS1123_LABEL.test(c.name || "") && c.name.length <= 63))
          problem(`${cp}/name`, `'${c.name}' is not a DNS-1123 label`);
        if (seen.has(c.name)) problem(`${cp}/name`, `'${c.name}' is not unique in the pod`);
        seen.add(c.name);
        (c.ports || []).forEach((pt, k) => {
          port(pt.containerPort, `${cp}/ports/${k}/containerPort`, 1, 65535);
          portName(pt.name, `${cp}/ports/${k}/name`);
        });
        const vols = new Set((spec.volumes || []).map((v) => v.name));
        (c.volumeMounts || []).forEach((m, k) => {
          if (!vols.has(m.name)) problem(`${cp}/volumeMounts/${k}/name`, `no volume '${m.name}'`);
        });
      });
    }
    const vn = new Set();
    (spec.volumes || []).forEach((v, i) => {
      if (!(DNS1123_LABEL.test(v.name || "") && v.name.length <= 63))
        problem(`${p}/volumes/${i}/name`, `'${v.name}' is not a DNS-1123 label`);
      if (vn.has(v.name)) problem(`${p}/volumes/${i}/name`, `'${v.name}' is not unique`);
      vn.add(v.name);
    });
    if (spec.os && spec.os.name === "windows") {
      for (const k of ["hostPID", "hostIPC"])
        if (spec[k]) problem(`${p}/${k}`, "not allowed in a Windows pod");
      (spec.volumes || []).forEach((v, i) => {
        if (v.emptyDir && v.emptyDir.medium === "Memory")
          problem(`${p}/volumes/${i}/emptyDir/medium`, "Windows pods refuse emptyDir medium Memory");
      });
    }
  };
  const spec = doc.spec || {};
  if (kind === "Deployment" || kind === "Job") {
    const t = spec.template || {};
    walkMeta(t.metadata, "/spec/template/metadata");
    podSpec(t.spec, "/spec/template/spec");
    if (kind === "Deployment") {
      const sel = (spec.selector || {}).matchLabels || {};
      const tl = (t.metadata || {}).labels || {};
      for (const [k, v] of Object.entries(sel))
        if (tl[k] !== v) problem("/spec/selector", `the template does not carry ${k}=${v}`);
    }
  }
  if (kind === "Service") {
    const names = new Set();
    (spec.ports || []).forEach((pt, i) => {
      port(pt.port, `/spec/ports/${i}/port`, 1, 65535);
      if (typeof pt.targetPort === "number") port(pt.targetPort, `/spec/ports/${i}/targetPort`, 1, 65535);
      port(pt.nodePort, `/spec/ports/${i}/nodePort`, 30000, 32767);
      portName(pt.name, `/spec/ports/${i}/name`);
      if ((spec.ports || []).length > 1 && !pt.name) problem(`/spec/ports/${i}/name`, "required with several ports");
      if (names.has(pt.name)) problem(`/spec/ports/${i}/name`, `'${pt.name}' is not unique`);
      names.add(pt.name);
    });
    if (!(spec.ports || []).length && spec.clusterIP !== "None")
      problem("/spec/ports", "required unless the Service is headless");
  }
}

function validateDoc(doc, problem) {
  if (!doc || typeof doc !== "object") return problem("", "not an object");
  const Model = modelFor(String(doc.apiVersion), String(doc.kind));
  if (!Model) return problem("", `no schema for ${doc.apiVersion} ${doc.kind}`);
  const seen = new Set();
  try {
    Model.prototype.validate.call(tracked(doc, "", seen, new Map()));
  } catch (e) {
    problem("", `schema: ${e.message.replace(/\s+/g, " ")}`);
  }
  const paths = [];
  allPaths(doc, "", paths);
  for (const p of paths) {
    const parent = p.slice(0, p.lastIndexOf("/"));
    /* Report the outermost unknown key only. */
    if (!seen.has(p) && (parent === "" || seen.has(parent))) problem(p, "not defined by the schema");
  }
  checkNames(doc, problem);
}

function files(args) {
  const out = [];
  for (const a of args) {
    if (fs.statSync(a).isDirectory())
      for (const f of fs.readdirSync(a).sort())
        if (f.endsWith(".yaml")) out.push(path.join(a, f));
        else;
    else out.push(a);
  }
  return out;
}

function main() {
  const args = process.argv.slice(2);
  if (!args.length) {
    console.error("usage: validate.js FILE|DIR...");
    process.exit(2);
  }
  let bad = 0, docs = 0;
  for (const f of files(args)) {
    const text = fs.readFileSync(f, "utf8");
    for (const d of YAML.parseAllDocuments(text)) {
      if (d.errors.length) {
        console.log(`${f}: YAML: ${d.errors[0].message}`);
        bad++;
        continue;
      }
      const doc = d.toJS();
      if (doc === null) continue;
      docs++;
      const id = `${doc.kind}/${(doc.metadata || {}).name}`;
      validateDoc(doc, (p, msg) => {
        console.log(`${f}: ${id}: ${p || "/"}: ${msg}`);
        bad++;
      });
    }
  }
  if (!docs) {
    console.log("no documents");
    process.exit(1);
  }
  console.error(`validate.js: ${docs} documents, ${bad} problems`);
  process.exit(bad ? 1 : 0);
}

main();
