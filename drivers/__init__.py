"""Device drivers: one sub-package per kind (modbus, opcua, gpio, camera).

Each has a small interface, real backends and a simulator backend with test
verbs. Only ``drivers.modbus`` imports pymodbus; only ``drivers.opcua``
imports asyncua.
"""
