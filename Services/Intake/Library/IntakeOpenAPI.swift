/// The OpenAPI 3.1 description of intake's HTTP API, served at `/openapi.json`.
enum IntakeOpenAPI {
    static let document = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Passerelle intake API",
            "version": "1.0.0",
            "description": "Intake is Passerelle's system of record for social-prescribing referrals and the clients they concern, and the only way in for referrers and EHRs: it takes referrals as JSON or as FHIR R4 (Gravity Project SDOH), moves them through the closed loop, records consent changes and erasure, and publishes every change as events. Every API call needs a bearer JWT whose roles claim holds referrer, link-worker, coordinator, analyst or service, and whose site claim scopes what link workers see. Errors are RFC 9457 problem+json (OperationOutcome on the FHIR routes). Callers may send X-Request-Id; every response echoes it or the one assigned."
          },
          "tags": [
            {
              "name": "referrals",
              "description": "Submitting referrals and following them through the closed loop."
            },
            {
              "name": "clients",
              "description": "Consent and erasure of the people referred."
            },
            {
              "name": "fhir",
              "description": "The FHIR R4 door for EHRs."
            },
            {
              "name": "operations",
              "description": "Health, metrics and this description; no token needed."
            }
          ],
          "security": [
            {
              "bearerAuth": []
            }
          ],
          "paths": {
            "/openapi.json": {
              "get": {
                "tags": [
                  "operations"
                ],
                "operationId": "getOpenAPIDocument",
                "summary": "This document",
                "description": "Anyone may read this OpenAPI description without a token.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "The OpenAPI 3.1 description of the intake API.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/health/live": {
              "get": {
                "tags": [
                  "operations"
                ],
                "operationId": "getLiveness",
                "summary": "Liveness",
                "description": "Anyone (typically the orchestrator's probe) may call it without a token; it answers 200 while the process runs.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "The process is live.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "status"
                          ],
                          "properties": {
                            "status": {
                              "const": "live"
                            }
                          }
                        }
                      }
                    }
                  }
                }
              }
            },
            "/health/ready": {
              "get": {
                "tags": [
                  "operations"
                ],
                "operationId": "getReadiness",
                "summary": "Readiness",
                "description": "Anyone (typically the orchestrator's probe) may call it without a token; it reports the schema, database and broker, cached for a second.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "Ready to serve.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReadinessReport"
                        }
                      }
                    }
                  },
                  "503": {
                    "description": "Not ready; the report says which dependency is missing.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReadinessReport"
                        }
                      }
                    },
                    "headers": {
                      "Retry-After": {
                        "$ref": "#/components/headers/RetryAfter"
                      }
                    }
                  }
                }
              }
            },
            "/metrics": {
              "get": {
                "tags": [
                  "operations"
                ],
                "operationId": "getMetrics",
                "summary": "Prometheus metrics",
                "description": "Anyone (typically the Prometheus scraper) may call it without a token.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "Metrics in the Prometheus text exposition format, version 0.0.4.",
                    "content": {
                      "text/plain": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/v1/referrals": {
              "post": {
                "tags": [
                  "referrals"
                ],
                "operationId": "submitReferral",
                "summary": "Submit a referral",
                "description": "Referrers (in their own name only), coordinators and services may submit a referral; the caller's own repeated Idempotency-Key or externalId answers 200 with the referral it first created. Keys are per caller: another caller's key is a new request, and another caller's externalId is a 409 that names nothing of their referral.",
                "parameters": [
                  {
                    "$ref": "#/components/parameters/IdempotencyKey"
                  }
                ],
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/ReferralSubmission"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The referral was created.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReferralView"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "200": {
                    "description": "The same request was seen before (same Idempotency-Key or externalId): the referral it created.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReferralView"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "409": {
                    "description": "The externalId was sent before by another caller.",
                    "content": {
                      "application/problem+json": {
                        "schema": {
                          "$ref": "#/components/schemas/Problem"
                        }
                      }
                    }
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/ValidationFailed"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              },
              "get": {
                "tags": [
                  "referrals"
                ],
                "operationId": "listReferrals",
                "summary": "The referral inbox",
                "description": "Referrers (their own referrals), link workers (their token's site only), coordinators and services may page through referrals, urgent first, then oldest first.",
                "parameters": [
                  {
                    "name": "site",
                    "in": "query",
                    "required": false,
                    "description": "Only this site's referrals (ignored for link workers, who always see their own site).",
                    "schema": {
                      "$ref": "#/components/schemas/SiteCode"
                    }
                  },
                  {
                    "name": "status",
                    "in": "query",
                    "required": false,
                    "schema": {
                      "$ref": "#/components/schemas/ReferralStatus"
                    }
                  },
                  {
                    "name": "since",
                    "in": "query",
                    "required": false,
                    "description": "Only referrals received at or after this ISO-8601 time.",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    },
                    "example": "2026-01-31T00:00:00Z"
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "required": false,
                    "description": "Page size.",
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 200,
                      "default": 50
                    }
                  },
                  {
                    "name": "cursor",
                    "in": "query",
                    "required": false,
                    "description": "The nextCursor of the previous page.",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "One page of referrals.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/InboxPage"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "422": {
                    "$ref": "#/components/responses/ValidationFailed"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/v1/referrals/{id}": {
              "parameters": [
                {
                  "$ref": "#/components/parameters/ReferralId"
                }
              ],
              "get": {
                "tags": [
                  "referrals"
                ],
                "operationId": "getReferral",
                "summary": "Read a referral",
                "description": "Referrers (their own referrals), link workers (their site's), coordinators and services may read a referral; the read is audited and others get 404.",
                "responses": {
                  "200": {
                    "description": "The referral.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReferralView"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/v1/referrals/{id}/transitions": {
              "parameters": [
                {
                  "$ref": "#/components/parameters/ReferralId"
                }
              ],
              "post": {
                "tags": [
                  "referrals"
                ],
                "operationId": "transitionReferral",
                "summary": "Move a referral through the closed loop",
                "description": "Link workers (their site's referrals), coordinators and services may apply any action, and referrers may only cancel their own referrals.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/TransitionRequest"
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "The referral after the transition.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/ReferralView"
                        }
                      }
                    }
                  },
                  "409": {
                    "description": "The action is not allowed from the referral's current status; allowedActions lists those that are.",
                    "content": {
                      "application/problem+json": {
                        "schema": {
                          "allOf": [
                            {
                              "$ref": "#/components/schemas/Problem"
                            },
                            {
                              "required": [
                                "allowedActions"
                              ]
                            }
                          ]
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/ValidationFailed"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/v1/referrals/{id}/audit": {
              "parameters": [
                {
                  "$ref": "#/components/parameters/ReferralId"
                }
              ],
              "get": {
                "tags": [
                  "referrals"
                ],
                "operationId": "getReferralAudit",
                "summary": "A referral's audit trail",
                "description": "Only coordinators may read who read or changed a referral, oldest first.",
                "responses": {
                  "200": {
                    "description": "The audit entries, oldest first (empty for an unknown referral).",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "array",
                          "items": {
                            "$ref": "#/components/schemas/AuditEntry"
                          }
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/v1/clients/{id}/consent": {
              "parameters": [
                {
                  "$ref": "#/components/parameters/ClientId"
                }
              ],
              "put": {
                "tags": [
                  "clients"
                ],
                "operationId": "changeClientConsent",
                "summary": "Change a client's consent",
                "description": "Link workers, coordinators and services may replace what a client consents to, which is published to every service holding the client's referrals.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/json": {
                      "schema": {
                        "$ref": "#/components/schemas/ConsentRequest"
                      }
                    }
                  }
                },
                "responses": {
                  "200": {
                    "description": "The consent now recorded.",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Consent"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/ValidationFailed"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/v1/clients/{id}": {
              "parameters": [
                {
                  "$ref": "#/components/parameters/ClientId"
                }
              ],
              "delete": {
                "tags": [
                  "clients"
                ],
                "operationId": "eraseClient",
                "summary": "Erase a client",
                "description": "Only coordinators may erase a client, deleting their identity, contact and referrals here and telling every downstream service to drop what it holds.",
                "responses": {
                  "204": {
                    "description": "The client and their referrals were erased."
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Patient": {
              "post": {
                "tags": [
                  "fhir"
                ],
                "operationId": "createFHIRPatient",
                "summary": "Store a FHIR Patient",
                "description": "Referrers, coordinators and services may store (or replace, by id) a Patient for a ServiceRequest posted afterwards.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/fhir+json": {
                      "schema": {
                        "$ref": "#/components/schemas/FHIRPatient"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The Patient as stored, with its id; Location is Patient/{id}.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRPatient"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/FHIRUnprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/ServiceRequest": {
              "post": {
                "tags": [
                  "fhir"
                ],
                "operationId": "createFHIRServiceRequest",
                "summary": "Refer with a FHIR ServiceRequest",
                "description": "Referrers, coordinators and services may submit a referral as a Gravity SDOH ServiceRequest whose subject is a Patient posted before.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/fhir+json": {
                      "schema": {
                        "$ref": "#/components/schemas/FHIRServiceRequest"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The referral was created; Location is ServiceRequest/{id}.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRServiceRequest"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "200": {
                    "description": "A ServiceRequest with this id was taken in before: nothing new was created.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRServiceRequest"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/FHIRUnprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Bundle": {
              "post": {
                "tags": [
                  "fhir"
                ],
                "operationId": "createFHIRBundle",
                "summary": "Refer with a FHIR Bundle",
                "description": "Referrers, coordinators and services may submit a referral as one Bundle holding the ServiceRequest, its Patient and optionally a Consent and a QuestionnaireResponse.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/fhir+json": {
                      "schema": {
                        "$ref": "#/components/schemas/FHIRBundle"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The referral was created; Location is ServiceRequest/{id}.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRBundleResponse"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "200": {
                    "description": "The ServiceRequest was taken in before: nothing new was created.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRBundleResponse"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/FHIRUnprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4": {
              "post": {
                "tags": [
                  "fhir"
                ],
                "operationId": "postFHIRTransaction",
                "summary": "Refer with a FHIR transaction Bundle at the base",
                "description": "The same as POST /fhir/r4/Bundle, at the address FHIR clients send transactions to.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/fhir+json": {
                      "schema": {
                        "$ref": "#/components/schemas/FHIRBundle"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The referral was created; Location is ServiceRequest/{id}; the response lists the Task too.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRBundleResponse"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "200": {
                    "description": "The ServiceRequest was taken in before: nothing new was created.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRBundleResponse"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/FHIRUnprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/metadata": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "getFHIRCapabilityStatement",
                "summary": "The FHIR CapabilityStatement",
                "description": "What this FHIR endpoint supports (resources, interactions, search parameters, the subscription topic). Open: no token needed.",
                "security": [],
                "responses": {
                  "200": {
                    "description": "The CapabilityStatement.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRCapabilityStatement"
                        }
                      }
                    }
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  }
                }
              }
            },
            "/fhir/r4/ServiceRequest/{id}": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "readFHIRServiceRequest",
                "summary": "Read a ServiceRequest as it was received",
                "description": "Coordinators, link workers of its site, the referrer, and services (those with a site claim: their site's or what they sent) may read it; anyone else gets 404.",
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The ServiceRequest id it was sent with (or was given).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The ServiceRequest, with its id.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRServiceRequest"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/FHIRNotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Task/{id}": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "readFHIRTask",
                "summary": "Read the Task of a referral",
                "description": "The SDOHCC Task For Referral Management intake keeps for the referral: status, businessStatus, statusReason and output follow the referral. The same readers as the ServiceRequest; anyone else gets 404.",
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The Task id: the referral id (lowercase UUID).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The Task; ETag is its version.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRTask"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/FHIRNotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Subscription": {
              "post": {
                "tags": [
                  "fhir"
                ],
                "operationId": "createFHIRSubscription",
                "summary": "Subscribe to Task changes (R4 backport, rest-hook)",
                "description": "Referrers, coordinators and services may subscribe to the Gravity Task topic. The endpoint must be https and resolve to public addresses unless the deployment allows others. A handshake is sent first; the subscription is active once it is delivered. Notifications (id-only or empty) are signed the Standard Webhooks way with the secret given in the webhook-secret extension, and sent only about Tasks the subscriber may read.",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/fhir+json": {
                      "schema": {
                        "$ref": "#/components/schemas/FHIRSubscription"
                      }
                    }
                  }
                },
                "responses": {
                  "201": {
                    "description": "The subscription, status requested, without its secret; Location is Subscription/{id}.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRSubscription"
                        }
                      }
                    },
                    "headers": {
                      "Location": {
                        "$ref": "#/components/headers/Location"
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "413": {
                    "$ref": "#/components/responses/PayloadTooLarge"
                  },
                  "422": {
                    "$ref": "#/components/responses/FHIRUnprocessable"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Subscription/{id}": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "readFHIRSubscription",
                "summary": "Read a subscription and its status",
                "description": "Its owner or a coordinator; anyone else gets 404. The secret is never shown and header values are hidden.",
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The subscription id (UUID).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The subscription: requested, active, error (with the last delivery error) or off.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRSubscription"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/FHIRNotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              },
              "delete": {
                "tags": [
                  "fhir"
                ],
                "operationId": "deleteFHIRSubscription",
                "summary": "Turn a subscription off",
                "description": "Its owner or a coordinator; notifications not yet sent are dropped.",
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The subscription id (UUID).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "204": {
                    "description": "The subscription is off."
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/FHIRNotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Subscription/{id}/$status": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "getFHIRSubscriptionStatus",
                "summary": "The $status of a subscription (R4 backport)",
                "description": "Its owner or a coordinator; anyone else gets 404. A searchset Bundle holding the SubscriptionStatus (a Parameters resource): status, events since the subscription started, the last delivery error.",
                "parameters": [
                  {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The subscription id (UUID).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "The SubscriptionStatus in a searchset Bundle.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "resourceType",
                            "type",
                            "entry"
                          ],
                          "properties": {
                            "resourceType": {
                              "const": "Bundle"
                            },
                            "type": {
                              "const": "searchset"
                            },
                            "entry": {
                              "type": "array",
                              "items": {
                                "type": "object"
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/FHIRNotFound"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            },
            "/fhir/r4/Task": {
              "get": {
                "tags": [
                  "fhir"
                ],
                "operationId": "searchFHIRTask",
                "summary": "Follow a referral as a FHIR Task",
                "description": "Referrers (their own referrals), link workers (their site's), coordinators and services (with a site claim: their site's or what they sent) may search Tasks by focus, based-on or _id (at least one; combined with AND); Tasks the caller may not see are left out.",
                "parameters": [
                  {
                    "name": "focus",
                    "in": "query",
                    "required": false,
                    "description": "ServiceRequest/{id} (comma-separated for several).",
                    "schema": {
                      "type": "string"
                    },
                    "example": "ServiceRequest/sr-2026-0001"
                  },
                  {
                    "name": "based-on",
                    "in": "query",
                    "required": false,
                    "description": "ServiceRequest/{id}: the same Tasks as focus (a referral Task is based on its ServiceRequest).",
                    "schema": {
                      "type": "string"
                    }
                  },
                  {
                    "name": "_id",
                    "in": "query",
                    "required": false,
                    "description": "Task ids, comma-separated (at most 100 ids in all).",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "responses": {
                  "200": {
                    "description": "A searchset with the Tasks found that the caller may see.",
                    "content": {
                      "application/fhir+json": {
                        "schema": {
                          "$ref": "#/components/schemas/FHIRTaskSearchSet"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/FHIRBadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/FHIRUnauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/FHIRForbidden"
                  },
                  "500": {
                    "$ref": "#/components/responses/InternalError"
                  },
                  "503": {
                    "$ref": "#/components/responses/Unavailable"
                  }
                }
              }
            }
          },
          "components": {
            "securitySchemes": {
              "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An HS256 or ES256 JWT with sub, exp, roles (referrer, link-worker, coordinator, analyst, service) and, for link workers, site."
              }
            },
            "schemas": {
              "NeedCategoryCode": {
                "type": "string",
                "enum": [
                  "social-isolation",
                  "loneliness",
                  "bereavement",
                  "mental-wellbeing",
                  "physical-activity",
                  "food-security",
                  "housing",
                  "income",
                  "employment",
                  "legal",
                  "transportation",
                  "caregiver-support",
                  "learning-literacy",
                  "digital-literacy",
                  "arts-culture",
                  "nature",
                  "newcomer-support",
                  "substance-use-support",
                  "parenting",
                  "childcare",
                  "utilities",
                  "personal-safety",
                  "health-literacy"
                ],
                "description": "A need category code from the need code list (NeedCategory.catalogue)."
              },
              "SupportLevel": {
                "type": "string",
                "enum": [
                  "signposting",
                  "light",
                  "medium",
                  "holistic"
                ],
                "description": "How much support the link worker gives, from pointing to a resource (signposting) to sustained, holistic support."
              },
              "ReferralPriority": {
                "type": "string",
                "enum": [
                  "routine",
                  "urgent"
                ]
              },
              "ReferrerRole": {
                "type": "string",
                "enum": [
                  "physician",
                  "nurse-practitioner",
                  "nurse",
                  "social-worker",
                  "allied-health",
                  "self",
                  "community-partner"
                ]
              },
              "ReferralStatus": {
                "type": "string",
                "enum": [
                  "received",
                  "accepted",
                  "in-progress",
                  "completed",
                  "rejected",
                  "cancelled",
                  "on-hold",
                  "failed"
                ],
                "description": "Where the referral is in the closed loop; aligned with FHIR Task.status."
              },
              "ReferralAction": {
                "type": "string",
                "enum": [
                  "accept",
                  "start",
                  "hold",
                  "resume",
                  "complete",
                  "reject",
                  "cancel",
                  "fail"
                ]
              },
              "ContactChannel": {
                "type": "string",
                "enum": [
                  "email",
                  "sms",
                  "phone",
                  "none"
                ],
                "description": "How the client prefers to be contacted; none means not by Passerelle."
              },
              "SiteCode": {
                "type": "string",
                "pattern": "^[a-z0-9-]{2,64}$",
                "examples": [
                  "ottawa-west-chc"
                ],
                "description": "A site code: 2 to 64 lowercase letters, digits and dashes."
              },
              "Consent": {
                "type": "object",
                "description": "What the client agreed to; every message, share and evaluation use is checked against it.",
                "required": [
                  "contact",
                  "shareWithPartners",
                  "evaluationUse"
                ],
                "properties": {
                  "contact": {
                    "type": "boolean",
                    "description": "May Passerelle contact the client at all."
                  },
                  "shareWithPartners": {
                    "type": "boolean",
                    "description": "May community partners receive the client's first name and contact."
                  },
                  "evaluationUse": {
                    "type": "boolean",
                    "description": "May de-identified data about the client's pathway be used for evaluation."
                  }
                }
              },
              "ConsentRequest": {
                "description": "The body of PUT /v1/clients/{id}/consent: the client's whole consent, every member required.",
                "allOf": [
                  {
                    "$ref": "#/components/schemas/Consent"
                  }
                ]
              },
              "Contact": {
                "type": "object",
                "properties": {
                  "phone": {
                    "type": "string",
                    "description": "7 to 15 digits, optionally starting with +; spaces, dashes, dots and parentheses allowed between.",
                    "examples": [
                      "+1 613-555-0100"
                    ]
                  },
                  "email": {
                    "type": "string",
                    "format": "email",
                    "maxLength": 254
                  }
                }
              },
              "Coordinates": {
                "type": "object",
                "required": [
                  "latitude",
                  "longitude"
                ],
                "properties": {
                  "latitude": {
                    "type": "number",
                    "minimum": -90,
                    "maximum": 90
                  },
                  "longitude": {
                    "type": "number",
                    "minimum": -180,
                    "maximum": 180
                  }
                }
              },
              "Sociodemographics": {
                "type": "object",
                "description": "Optional; collected only with consent to evaluation use and used only for equity analysis. Every answer is a code; each list has prefer-not-to-say.",
                "properties": {
                  "gender": {
                    "type": "string",
                    "enum": ["woman", "man", "non-binary", "two-spirit", "another-gender", "prefer-not-to-say"]
                  },
                  "incomeBand": {
                    "type": "string",
                    "description": "Household income before tax, per year, in Canadian dollars.",
                    "enum": ["under-20k", "20k-40k", "40k-60k", "60k-100k", "100k-plus", "prefer-not-to-say"]
                  },
                  "newcomer": {
                    "type": "boolean"
                  },
                  "disability": {
                    "type": "boolean"
                  },
                  "racialOrEthnicGroup": {
                    "type": "string",
                    "enum": ["first-nations", "metis", "inuit", "black", "east-asian", "south-asian", "southeast-asian", "west-asian-or-arab", "latin-american", "white", "another-group", "prefer-not-to-say"]
                  }
                }
              },
              "ClientSubmission": {
                "type": "object",
                "description": "The person referred. The contact the preferred channel needs is required: an e-mail address for email, a phone number for sms and phone.",
                "required": [
                  "givenName",
                  "familyName",
                  "birthDate",
                  "preferredLanguage",
                  "preferredChannel"
                ],
                "properties": {
                  "givenName": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100
                  },
                  "familyName": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100
                  },
                  "birthDate": {
                    "type": "string",
                    "format": "date",
                    "description": "YYYY-MM-DD, not in the future."
                  },
                  "contact": {
                    "$ref": "#/components/schemas/Contact"
                  },
                  "preferredLanguage": {
                    "type": "string",
                    "pattern": "^[A-Za-z]{2,3}$",
                    "description": "A language code such as fr or en (stored lowercased).",
                    "examples": [
                      "fr"
                    ]
                  },
                  "postalCode": {
                    "type": "string",
                    "description": "A postal code of 3 to 10 letters and digits (spaces and dashes ignored), e.g. K1A 0B1."
                  },
                  "coordinates": {
                    "$ref": "#/components/schemas/Coordinates"
                  },
                  "accessibilityNeeds": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    }
                  },
                  "preferredChannel": {
                    "$ref": "#/components/schemas/ContactChannel"
                  },
                  "sociodemographics": {
                    "$ref": "#/components/schemas/Sociodemographics"
                  }
                },
                "allOf": [
                  {
                    "if": {
                      "required": [
                        "preferredChannel"
                      ],
                      "properties": {
                        "preferredChannel": {
                          "const": "email"
                        }
                      }
                    },
                    "then": {
                      "required": [
                        "contact"
                      ],
                      "properties": {
                        "contact": {
                          "required": [
                            "email"
                          ]
                        }
                      }
                    }
                  },
                  {
                    "if": {
                      "required": [
                        "preferredChannel"
                      ],
                      "properties": {
                        "preferredChannel": {
                          "enum": [
                            "sms",
                            "phone"
                          ]
                        }
                      }
                    },
                    "then": {
                      "required": [
                        "contact"
                      ],
                      "properties": {
                        "contact": {
                          "required": [
                            "phone"
                          ]
                        }
                      }
                    }
                  }
                ]
              },
              "ReferrerSubmission": {
                "type": "object",
                "required": [
                  "id",
                  "role"
                ],
                "properties": {
                  "id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "The referrer's id; a caller with only the referrer role must send their own token subject."
                  },
                  "role": {
                    "$ref": "#/components/schemas/ReferrerRole"
                  },
                  "organisation": {
                    "type": "string",
                    "maxLength": 200
                  }
                }
              },
              "ReferralSubmission": {
                "type": "object",
                "description": "The body of POST /v1/referrals. Every invalid field is reported at once in the 422 problem's errors, each with its JSON pointer.",
                "required": [
                  "client",
                  "referrer",
                  "site",
                  "needs",
                  "supportLevel",
                  "consent"
                ],
                "properties": {
                  "externalId": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "The sender's id for the referral; a second submission with the same externalId answers 200 with the first referral."
                  },
                  "client": {
                    "$ref": "#/components/schemas/ClientSubmission"
                  },
                  "referrer": {
                    "$ref": "#/components/schemas/ReferrerSubmission"
                  },
                  "site": {
                    "$ref": "#/components/schemas/SiteCode"
                  },
                  "needs": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": true,
                    "items": {
                      "$ref": "#/components/schemas/NeedCategoryCode"
                    }
                  },
                  "interests": {
                    "type": "array",
                    "maxItems": 30,
                    "items": {
                      "type": "string",
                      "minLength": 1,
                      "maxLength": 40
                    },
                    "description": "Free tags, stored trimmed and lowercased."
                  },
                  "supportLevel": {
                    "$ref": "#/components/schemas/SupportLevel"
                  },
                  "priority": {
                    "$ref": "#/components/schemas/ReferralPriority",
                    "default": "routine"
                  },
                  "consent": {
                    "$ref": "#/components/schemas/Consent"
                  },
                  "notes": {
                    "type": "string",
                    "maxLength": 4000
                  },
                  "screeningAnswers": {
                    "type": "object",
                    "maxProperties": 100,
                    "propertyNames": {
                      "minLength": 1,
                      "maxLength": 64
                    },
                    "additionalProperties": {
                      "type": "string",
                      "maxLength": 500
                    },
                    "description": "Screening answers keyed by question code."
                  }
                },
                "if": {
                  "required": [
                    "consent"
                  ],
                  "properties": {
                    "consent": {
                      "required": [
                        "evaluationUse"
                      ],
                      "properties": {
                        "evaluationUse": {
                          "const": false
                        }
                      }
                    }
                  }
                },
                "then": {
                  "properties": {
                    "client": {
                      "not": {
                        "required": [
                          "sociodemographics"
                        ]
                      }
                    }
                  }
                }
              },
              "Referrer": {
                "type": "object",
                "required": [
                  "id",
                  "role"
                ],
                "properties": {
                  "id": {
                    "type": "string"
                  },
                  "role": {
                    "$ref": "#/components/schemas/ReferrerRole"
                  },
                  "organisation": {
                    "type": "string"
                  }
                }
              },
              "ReferralView": {
                "type": "object",
                "description": "A referral as API clients see it (no client identity or contact). UUIDs are uppercase; times are ISO-8601 in UTC.",
                "required": [
                  "id",
                  "clientId",
                  "site",
                  "referrer",
                  "needs",
                  "interests",
                  "supportLevel",
                  "priority",
                  "status",
                  "version",
                  "receivedAt",
                  "updatedAt"
                ],
                "properties": {
                  "id": {
                    "type": "string",
                    "format": "uuid",
                    "pattern": "^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
                  },
                  "externalId": {
                    "type": "string"
                  },
                  "clientId": {
                    "type": "string",
                    "format": "uuid",
                    "pattern": "^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
                  },
                  "site": {
                    "$ref": "#/components/schemas/SiteCode"
                  },
                  "referrer": {
                    "$ref": "#/components/schemas/Referrer"
                  },
                  "needs": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/NeedCategoryCode"
                    }
                  },
                  "interests": {
                    "type": "array",
                    "items": {
                      "type": "string"
                    }
                  },
                  "supportLevel": {
                    "$ref": "#/components/schemas/SupportLevel"
                  },
                  "priority": {
                    "$ref": "#/components/schemas/ReferralPriority"
                  },
                  "status": {
                    "$ref": "#/components/schemas/ReferralStatus"
                  },
                  "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Grows by one with each change."
                  },
                  "receivedAt": {
                    "type": "string",
                    "format": "date-time",
                    "examples": [
                      "2026-01-31T14:05:00Z"
                    ]
                  },
                  "updatedAt": {
                    "type": "string",
                    "format": "date-time"
                  }
                }
              },
              "InboxPage": {
                "type": "object",
                "description": "One page of referrals, urgent first, then oldest first.",
                "required": [
                  "items"
                ],
                "properties": {
                  "items": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/ReferralView"
                    }
                  },
                  "nextCursor": {
                    "type": "string",
                    "description": "Pass as the cursor parameter for the next page; absent on the last page."
                  }
                }
              },
              "TransitionRequest": {
                "type": "object",
                "description": "One step of the closed loop. reject, cancel, hold and fail need a reason; complete needs an outcome.",
                "required": [
                  "action"
                ],
                "properties": {
                  "action": {
                    "$ref": "#/components/schemas/ReferralAction"
                  },
                  "reason": {
                    "type": "string",
                    "maxLength": 1000
                  },
                  "outcome": {
                    "type": "string",
                    "maxLength": 1000
                  }
                },
                "allOf": [
                  {
                    "if": {
                      "required": [
                        "action"
                      ],
                      "properties": {
                        "action": {
                          "enum": [
                            "reject",
                            "cancel",
                            "hold",
                            "fail"
                          ]
                        }
                      }
                    },
                    "then": {
                      "required": [
                        "reason"
                      ],
                      "properties": {
                        "reason": {
                          "minLength": 1
                        }
                      }
                    }
                  },
                  {
                    "if": {
                      "required": [
                        "action"
                      ],
                      "properties": {
                        "action": {
                          "const": "complete"
                        }
                      }
                    },
                    "then": {
                      "required": [
                        "outcome"
                      ],
                      "properties": {
                        "outcome": {
                          "minLength": 1
                        }
                      }
                    }
                  }
                ]
              },
              "AuditEntry": {
                "type": "object",
                "description": "Who read or changed a referral, and when.",
                "required": [
                  "at",
                  "actorId",
                  "actorRoles",
                  "action"
                ],
                "properties": {
                  "at": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "actorId": {
                    "type": "string",
                    "description": "The token subject."
                  },
                  "actorRoles": {
                    "type": "string",
                    "description": "The caller's roles, sorted and comma-separated.",
                    "examples": [
                      "coordinator"
                    ]
                  },
                  "action": {
                    "type": "string",
                    "description": "create, read, read:fhir-task, or transition:<action>.",
                    "examples": [
                      "transition:accept"
                    ]
                  },
                  "referralId": {
                    "type": "string",
                    "format": "uuid",
                    "pattern": "^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
                  },
                  "clientId": {
                    "type": "string",
                    "format": "uuid",
                    "pattern": "^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
                  },
                  "requestId": {
                    "type": "string",
                    "description": "The X-Request-Id of the request."
                  }
                }
              },
              "Problem": {
                "type": "object",
                "description": "An RFC 9457 problem detail.",
                "required": [
                  "type",
                  "title",
                  "status",
                  "instance"
                ],
                "properties": {
                  "type": {
                    "type": "string",
                    "format": "uri-reference",
                    "default": "about:blank",
                    "examples": [
                      "https://passerelle.example/problems/validation"
                    ]
                  },
                  "title": {
                    "type": "string"
                  },
                  "status": {
                    "type": "integer",
                    "minimum": 400,
                    "maximum": 599
                  },
                  "detail": {
                    "type": "string"
                  },
                  "instance": {
                    "type": "string",
                    "description": "The request path."
                  },
                  "errors": {
                    "type": "array",
                    "description": "Every failing field (validation problems and malformed bodies).",
                    "items": {
                      "type": "object",
                      "required": [
                        "pointer",
                        "detail"
                      ],
                      "properties": {
                        "pointer": {
                          "type": "string",
                          "description": "A JSON pointer into the body (/client/birthDate), ?name for a query parameter, or empty for the whole request."
                        },
                        "detail": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "allowedActions": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/ReferralAction"
                    },
                    "description": "On 409: the actions the referral's current status allows."
                  }
                }
              },
              "OperationOutcome": {
                "type": "object",
                "description": "A FHIR R4 OperationOutcome: how the FHIR routes report failures.",
                "required": [
                  "resourceType",
                  "issue"
                ],
                "properties": {
                  "resourceType": {
                    "const": "OperationOutcome"
                  },
                  "issue": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                      "type": "object",
                      "required": [
                        "severity",
                        "code",
                        "diagnostics"
                      ],
                      "properties": {
                        "severity": {
                          "type": "string",
                          "enum": [
                            "fatal",
                            "error",
                            "warning",
                            "information"
                          ]
                        },
                        "code": {
                          "type": "string",
                          "description": "A FHIR issue-type code such as invalid, required, structure, not-found, code-invalid, login, forbidden or transient."
                        },
                        "diagnostics": {
                          "type": "string"
                        },
                        "expression": {
                          "type": "array",
                          "items": {
                            "type": "string"
                          },
                          "description": "The FHIRPath of the element at fault, e.g. ServiceRequest.subject or Bundle.entry[1].resource.category[1].coding[0].code."
                        }
                      }
                    }
                  }
                }
              },
              "ReadinessReport": {
                "type": "object",
                "required": [
                  "ready",
                  "schema",
                  "database",
                  "broker"
                ],
                "properties": {
                  "ready": {
                    "type": "boolean"
                  },
                  "schema": {
                    "type": "string",
                    "enum": [
                      "ok",
                      "migrating"
                    ]
                  },
                  "database": {
                    "type": "string",
                    "description": "ok, or unavailable: followed by the reason."
                  },
                  "broker": {
                    "type": "string",
                    "description": "ok, or unavailable: followed by the reason."
                  }
                }
              },
              "FHIRReference": {
                "type": "object",
                "properties": {
                  "reference": {
                    "type": "string"
                  },
                  "display": {
                    "type": "string"
                  }
                }
              },
              "FHIRCoding": {
                "type": "object",
                "properties": {
                  "system": {
                    "type": "string"
                  },
                  "code": {
                    "type": "string"
                  },
                  "display": {
                    "type": "string"
                  }
                }
              },
              "FHIRCodeableConcept": {
                "type": "object",
                "properties": {
                  "coding": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/FHIRCoding"
                    }
                  },
                  "text": {
                    "type": "string"
                  }
                }
              },
              "FHIRPatient": {
                "type": "object",
                "description": "A FHIR R4 Patient; only these elements are read, others are kept as sent.",
                "required": [
                  "resourceType"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Patient"
                  },
                  "id": {
                    "type": "string",
                    "description": "Assigned (lowercase UUID) when absent."
                  },
                  "name": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "family": {
                          "type": "string"
                        },
                        "given": {
                          "type": "array",
                          "items": {
                            "type": "string"
                          }
                        }
                      }
                    }
                  },
                  "birthDate": {
                    "type": "string",
                    "format": "date"
                  },
                  "telecom": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "system": {
                          "type": "string",
                          "examples": [
                            "phone",
                            "sms",
                            "email"
                          ]
                        },
                        "value": {
                          "type": "string"
                        },
                        "rank": {
                          "type": "integer"
                        }
                      }
                    }
                  },
                  "address": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "postalCode": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "communication": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "language": {
                          "$ref": "#/components/schemas/FHIRCodeableConcept"
                        },
                        "preferred": {
                          "type": "boolean"
                        }
                      }
                    }
                  }
                }
              },
              "FHIRServiceRequest": {
                "type": "object",
                "description": "A Gravity Project SDOH ServiceRequest: active, an order (order, original-order, reflex-order, filler-order, instance-order), at least one Gravity SDOH category. The performer, if any, references the receiving site (Organization/{site}); without one the site is the sender's token site claim, else the configured default organization. Without a requester the sender refers in its own name.",
                "required": [
                  "resourceType",
                  "status",
                  "intent",
                  "category",
                  "subject"
                ],
                "properties": {
                  "resourceType": {
                    "const": "ServiceRequest"
                  },
                  "id": {
                    "type": "string",
                    "description": "Kept as the referral's externalId: sending the same id again answers 200 with the first referral."
                  },
                  "identifier": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "system": {
                          "type": "string"
                        },
                        "value": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "status": {
                    "const": "active"
                  },
                  "intent": {
                    "const": "order"
                  },
                  "category": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                      "$ref": "#/components/schemas/FHIRCodeableConcept"
                    },
                    "description": "Codings in http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes become need categories; other systems are context only."
                  },
                  "code": {
                    "$ref": "#/components/schemas/FHIRCodeableConcept"
                  },
                  "priority": {
                    "type": "string",
                    "enum": [
                      "routine",
                      "urgent",
                      "asap",
                      "stat"
                    ]
                  },
                  "subject": {
                    "$ref": "#/components/schemas/FHIRReference",
                    "description": "Patient/{id}, or the Patient entry's fullUrl inside a Bundle."
                  },
                  "requester": {
                    "$ref": "#/components/schemas/FHIRReference"
                  },
                  "performer": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                      "$ref": "#/components/schemas/FHIRReference"
                    }
                  },
                  "reasonReference": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/FHIRReference"
                    }
                  },
                  "supportingInfo": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/FHIRReference"
                    }
                  },
                  "note": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "text": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              },
              "FHIRBundle": {
                "type": "object",
                "description": "A transaction or collection Bundle holding exactly one ServiceRequest, its Patient, and optionally a Consent and a QuestionnaireResponse.",
                "required": [
                  "resourceType",
                  "type",
                  "entry"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Bundle"
                  },
                  "type": {
                    "type": "string",
                    "enum": [
                      "transaction",
                      "collection"
                    ]
                  },
                  "entry": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "fullUrl": {
                          "type": "string",
                          "examples": [
                            "urn:uuid:0c3a6c8e-2f7b-4d0e-9d1a-5b1f2f6c7e11"
                          ]
                        },
                        "resource": {
                          "type": "object",
                          "required": [
                            "resourceType"
                          ],
                          "properties": {
                            "resourceType": {
                              "type": "string"
                            },
                            "id": {
                              "type": "string"
                            }
                          }
                        }
                      }
                    }
                  }
                }
              },
              "FHIRBundleResponse": {
                "type": "object",
                "required": [
                  "resourceType",
                  "type",
                  "entry"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Bundle"
                  },
                  "type": {
                    "type": "string",
                    "enum": [
                      "transaction-response",
                      "batch-response"
                    ]
                  },
                  "entry": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": [
                        "response"
                      ],
                      "properties": {
                        "response": {
                          "type": "object",
                          "required": [
                            "status"
                          ],
                          "properties": {
                            "status": {
                              "type": "string",
                              "enum": [
                                "201 Created",
                                "200 OK"
                              ]
                            },
                            "location": {
                              "type": "string",
                              "description": "ServiceRequest/{id}, on the ServiceRequest's entry."
                            }
                          }
                        }
                      }
                    }
                  }
                }
              },
              "FHIRTask": {
                "type": "object",
                "description": "An SDOHCC Task For Referral Management, owned by Passerelle: one per referral that names a ServiceRequest.",
                "required": [
                  "resourceType",
                  "id",
                  "status",
                  "businessStatus",
                  "intent",
                  "code",
                  "focus",
                  "authoredOn",
                  "lastModified"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Task"
                  },
                  "id": {
                    "type": "string",
                    "description": "The referral id (lowercase UUID)."
                  },
                  "meta": {
                    "type": "object",
                    "properties": {
                      "versionId": {
                        "type": "string"
                      },
                      "lastUpdated": {
                        "type": "string",
                        "format": "date-time"
                      },
                      "profile": {
                        "type": "array",
                        "items": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "basedOn": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/FHIRReference"
                    }
                  },
                  "status": {
                    "type": "string",
                    "enum": [
                      "requested",
                      "accepted",
                      "in-progress",
                      "completed",
                      "rejected",
                      "cancelled",
                      "on-hold",
                      "failed"
                    ]
                  },
                  "statusReason": {
                    "$ref": "#/components/schemas/FHIRCodeableConcept"
                  },
                  "businessStatus": {
                    "$ref": "#/components/schemas/FHIRCodeableConcept"
                  },
                  "intent": {
                    "const": "order"
                  },
                  "priority": {
                    "type": "string",
                    "enum": [
                      "routine",
                      "urgent"
                    ]
                  },
                  "code": {
                    "$ref": "#/components/schemas/FHIRCodeableConcept"
                  },
                  "focus": {
                    "$ref": "#/components/schemas/FHIRReference"
                  },
                  "for": {
                    "$ref": "#/components/schemas/FHIRReference"
                  },
                  "authoredOn": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "lastModified": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "requester": {
                    "$ref": "#/components/schemas/FHIRReference"
                  },
                  "owner": {
                    "$ref": "#/components/schemas/FHIRReference"
                  },
                  "output": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "properties": {
                        "type": {
                          "$ref": "#/components/schemas/FHIRCodeableConcept"
                        },
                        "valueString": {
                          "type": "string"
                        },
                        "valueCodeableConcept": {
                          "$ref": "#/components/schemas/FHIRCodeableConcept"
                        },
                        "valueReference": {
                          "$ref": "#/components/schemas/FHIRReference"
                        }
                      }
                    }
                  }
                }
              },
              "FHIRSubscription": {
                "type": "object",
                "description": "An R4 Subscriptions Backport Subscription to http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task with a rest-hook channel.",
                "required": [
                  "resourceType",
                  "status",
                  "reason",
                  "criteria",
                  "channel"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Subscription"
                  },
                  "id": {
                    "type": "string"
                  },
                  "status": {
                    "type": "string",
                    "enum": [
                      "requested",
                      "active",
                      "error",
                      "off"
                    ]
                  },
                  "reason": {
                    "type": "string"
                  },
                  "end": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "error": {
                    "type": "string"
                  },
                  "criteria": {
                    "const": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task"
                  },
                  "_criteria": {
                    "type": "object",
                    "description": "backport-filter-criteria extensions, e.g. Task?owner=Organization/ottawa-west-chc (filters: owner, requester, status, code, focus)."
                  },
                  "channel": {
                    "type": "object",
                    "required": [
                      "type",
                      "endpoint"
                    ],
                    "properties": {
                      "type": {
                        "const": "rest-hook"
                      },
                      "endpoint": {
                        "type": "string",
                        "format": "uri"
                      },
                      "payload": {
                        "type": "string",
                        "enum": [
                          "application/fhir+json",
                          "application/json"
                        ]
                      },
                      "_payload": {
                        "type": "object",
                        "description": "backport-payload-content extension: id-only (default) or empty."
                      },
                      "header": {
                        "type": "array",
                        "maxItems": 10,
                        "items": {
                          "type": "string"
                        }
                      },
                      "extension": {
                        "type": "array",
                        "description": "https://passerelle.example/fhir/StructureDefinition/webhook-secret (valueString): the Standard Webhooks secret, 24 to 200 characters or whsec_<base64>; required on create, never returned.",
                        "items": {
                          "type": "object"
                        }
                      }
                    }
                  }
                }
              },
              "FHIRCapabilityStatement": {
                "type": "object",
                "required": [
                  "resourceType",
                  "status",
                  "kind",
                  "fhirVersion",
                  "rest"
                ],
                "properties": {
                  "resourceType": {
                    "const": "CapabilityStatement"
                  },
                  "fhirVersion": {
                    "const": "4.0.1"
                  },
                  "status": {
                    "type": "string"
                  },
                  "kind": {
                    "type": "string"
                  },
                  "rest": {
                    "type": "array",
                    "items": {
                      "type": "object"
                    }
                  }
                }
              },
              "FHIRTaskSearchSet": {
                "type": "object",
                "required": [
                  "resourceType",
                  "type",
                  "total",
                  "entry"
                ],
                "properties": {
                  "resourceType": {
                    "const": "Bundle"
                  },
                  "type": {
                    "const": "searchset"
                  },
                  "total": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "entry": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": [
                        "resource"
                      ],
                      "properties": {
                        "resource": {
                          "$ref": "#/components/schemas/FHIRTask"
                        }
                      }
                    }
                  }
                }
              }
            },
            "responses": {
              "BadRequest": {
                "description": "The body is not JSON of the expected shape; errors point at the failing member.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "Unauthorized": {
                "description": "No bearer token, or one that could not be verified.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "Forbidden": {
                "description": "The token carries none of the roles this operation needs, or the role does not allow this use.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "NotFound": {
                "description": "No such resource, or not one the caller may see.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "PayloadTooLarge": {
                "description": "The body is larger than 1 MiB.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "ValidationFailed": {
                "description": "One or more fields failed validation; errors lists each with its pointer.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "Unavailable": {
                "description": "A dependency (the database) is unavailable; retry after the given number of seconds.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                },
                "headers": {
                  "Retry-After": {
                    "$ref": "#/components/headers/RetryAfter"
                  }
                }
              },
              "InternalError": {
                "description": "An unexpected failure; the detail names the request id to look up in the service log.",
                "content": {
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "FHIRBadRequest": {
                "description": "The body is not valid FHIR JSON, or a required search parameter is missing or malformed.",
                "content": {
                  "application/fhir+json": {
                    "schema": {
                      "$ref": "#/components/schemas/OperationOutcome"
                    }
                  }
                }
              },
              "FHIRUnauthorized": {
                "description": "No bearer token (OperationOutcome), or one that could not be verified (problem+json, answered before the FHIR route runs).",
                "content": {
                  "application/fhir+json": {
                    "schema": {
                      "$ref": "#/components/schemas/OperationOutcome"
                    }
                  },
                  "application/problem+json": {
                    "schema": {
                      "$ref": "#/components/schemas/Problem"
                    }
                  }
                }
              },
              "FHIRForbidden": {
                "description": "The token carries none of the roles this operation needs.",
                "content": {
                  "application/fhir+json": {
                    "schema": {
                      "$ref": "#/components/schemas/OperationOutcome"
                    }
                  }
                }
              },
              "FHIRNotFound": {
                "description": "No such resource, or not one the caller may see (the same answer).",
                "content": {
                  "application/fhir+json": {
                    "schema": {
                      "$ref": "#/components/schemas/OperationOutcome"
                    }
                  }
                }
              },
              "FHIRUnprocessable": {
                "description": "The resource cannot be taken in as a referral; each issue says why and where.",
                "content": {
                  "application/fhir+json": {
                    "schema": {
                      "$ref": "#/components/schemas/OperationOutcome"
                    }
                  }
                }
              }
            },
            "parameters": {
              "ReferralId": {
                "name": "id",
                "in": "path",
                "required": true,
                "description": "The referral id (case-insensitive).",
                "schema": {
                  "type": "string",
                  "format": "uuid"
                }
              },
              "ClientId": {
                "name": "id",
                "in": "path",
                "required": true,
                "description": "The client id (case-insensitive).",
                "schema": {
                  "type": "string",
                  "format": "uuid"
                }
              },
              "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": false,
                "description": "Makes a retried submission safe: a repeated key answers 200 with the referral the first request created.",
                "schema": {
                  "type": "string",
                  "minLength": 1,
                  "maxLength": 200
                }
              }
            },
            "headers": {
              "Location": {
                "description": "Where the created resource lives.",
                "schema": {
                  "type": "string"
                }
              },
              "RetryAfter": {
                "description": "Seconds to wait before retrying.",
                "schema": {
                  "type": "integer",
                  "minimum": 0
                }
              }
            }
          }
        }
    """#
}
