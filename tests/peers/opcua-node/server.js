#!/usr/bin/env node
// Test-only peer: an independent OPC UA server (node-opcua, not asyncua) for the
// interop tests in tests/drivers/opcua/test_interop_node.py. Never part of the box.
//
//   node server.js --port N --pki DIR [--user NAME --password PW] [--token-lifetime-ms MS]
//                  [--receive-buffer BYTES]
//
// Listens on 127.0.0.1:N with SecurityPolicy None and Basic256Sha256
// SignAndEncrypt (anonymous or the user), and prints "ready <url>" once it
// accepts sessions. Nodes (namespace 1): Cell.Stop (Boolean, writable),
// Cell.Speed (Double), Cell.Count (Int32), Cell.Running (Boolean).
// Control over stdin, one command a line, each answered with one line:
//   set <Name> <value>    -> "ok"          (sets Cell.<Name>, e.g. "set Speed 12.5")
//   get <Name>            -> "value <v>"
// and every write of Cell.Stop by a client prints "stop <value>" (the tests await it).
"use strict";
const readline = require("readline");
const path = require("path");
const {
    OPCUAServer, OPCUACertificateManager, DataType, Variant,
    MessageSecurityMode, SecurityPolicy,
} = require("node-opcua");

function arg(name, fallback) {
    const i = process.argv.indexOf("--" + name);
    return i >= 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg("port"));
const pki = arg("pki");
const user = arg("user", "operator");
const password = arg("password", "geheim");
const tokenLifetime = Number(arg("token-lifetime-ms", "600000"));
// A small PLC's transport: the chunk size it can receive (the ACK's ReceiveBufferSize, >= 8192),
// while it sends 64 KiB chunks (as many embedded servers do).
const receiveBuffer = Number(arg("receive-buffer", "0"));
if (!port || !pki) {
    console.error("usage: node server.js --port N --pki DIR [--user U --password P] [--token-lifetime-ms MS]");
    process.exit(2);
}

const TYPES = {
    Stop: [DataType.Boolean, false],
    Speed: [DataType.Double, 0.0],
    Count: [DataType.Int32, 0],
    Running: [DataType.Boolean, false],
};
const parse = (name, text) => {
    const t = TYPES[name][0];
    if (t === DataType.Boolean) return text === "true" || text === "1";
    if (t === DataType.Int32) return parseInt(text, 10);
    return parseFloat(text);
};

async function main() {
    const certificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "own"), automaticallyAcceptUnknownCertificate: true,
    });
    const userCertificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "users"), automaticallyAcceptUnknownCertificate: true,
    });
    const server = new OPCUAServer({
        port, host: "127.0.0.1", hostname: "127.0.0.1",
        securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
        allowAnonymous: true,
        serverCertificateManager: certificateManager,
        userCertificateManager,
        userManager: { isValidUser: (u, p) => u === user && p === password },
        defaultSecureTokenLifetime: tokenLifetime,
        transportSettings: receiveBuffer ? {
            adjustTransportLimits: (hello) => ({
                receiveBufferSize: receiveBuffer, sendBufferSize: Math.min(65536, hello.receiveBufferSize),
                maxMessageSize: 16 * 1024 * 1024, maxChunkCount: 0,
            }),
        } : undefined,
        registerServerMethod: 1, // HIDDEN: no LDS, no mDNS
        buildInfo: { productName: "werkvloer-interop-peer" },
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.getOwnNamespace();
    const cell = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Cell", nodeId: "s=Cell" });
    const vars = {};
    for (const [name, [dataType, initial]] of Object.entries(TYPES)) {
        vars[name] = ns.addVariable({
            componentOf: cell, browseName: name, nodeId: `s=Cell.${name}`,
            dataType, accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
            minimumSamplingInterval: 0,
        });
        vars[name].setValueFromSource(new Variant({ dataType, value: initial }));
    }
    vars.Stop.on("value_changed", (dv) => console.log(`stop ${dv.value.value}`));
    readline.createInterface({ input: process.stdin }).on("line", (line) => {
        const [cmd, name, text] = line.trim().split(/\s+/);
        if (!(name in TYPES)) return console.log(`error unknown node ${name}`);
        if (cmd === "set") {
            vars[name].setValueFromSource(new Variant({ dataType: TYPES[name][0], value: parse(name, text) }));
            return console.log("ok");
        }
        if (cmd === "get") return console.log(`value ${vars[name].readValue().value.value}`);
        console.log(`error unknown command ${cmd}`);
    }).on("close", () => server.shutdown(0).then(() => process.exit(0)));
    await server.start();
    console.log(`ready opc.tcp://127.0.0.1:${port}`);
}

main().catch((err) => {
    console.error(`the node-opcua peer failed to start: ${err && err.stack || err}`);
    process.exit(1);
});
