/**
 * The pipeline run statechart's context, events and statuses (seed 002 names: runs, step attempts,
 * run events). Pure types and helpers: no I/O, no Nest.
 */
import type { NeedCondition } from './template.schema';

/** Run statuses (seed 002): the top-level states of every compiled pipeline machine. */
export const RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'quarantined', 'canceled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses a run never leaves. */
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'canceled'];

/**
 * A step's status, mirrored in its region of the chart (`waiting`, `ready`, `running`,
 * `awaitingSpawn`, `succeeded`, `failed`, `skipped`). `canceled` is set on the steps that had not
 * ended when the run was canceled.
 */
export const STEP_STATUSES = ['waiting', 'ready', 'running', 'awaitingSpawn', 'succeeded', 'failed', 'skipped', 'canceled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
export const TERMINAL_STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'skipped', 'canceled'];

/** One step's bookkeeping in the run context. */
export interface StepState {
  status: StepStatus;
  /**
   * How many times the step entered `running` in this run (1 the first time; a spawn loop or a
   * retry from this step adds one). A step message carries the visit it was sent for, so a late
   * message of an earlier visit is recognised as stale.
   */
  visit: number;
  /** Why the step was skipped or failed (for people), e.g. `needs plan on success; plan failed`. */
  reason?: string;
  /** The error of its last failed visit. */
  error?: { code: string; message: string };
  /** Artifacts of its last successful visit, by output name → artifact id (one producing attempt each). */
  artifacts?: Record<string, string>;
  /** The step attempt whose result its last successful visit took (`<runId>:<step>:<visit>:<n>`). */
  attemptId?: string;
}

/** A step spawned at run time by another step (the regression loop, seed 004 §3). */
export interface SpawnedStep {
  /** `<template step>~<n>`, e.g. `dev~1`: n counts spawns of that template step in the run. */
  id: string;
  /** The template step whose definition it runs. */
  templateStep: string;
  /** The step that spawned it and waits for it (`parent_step_id`). */
  parentStepId: string;
  /** 1 for a step spawned by a template step; parent's depth + 1 for one spawned by a spawned step. */
  depth: number;
  /** Which visit of the parent spawned it. */
  parentVisit: number;
  status: 'ready' | 'running' | 'succeeded' | 'failed' | 'canceled';
  visit: number;
  /** What the spawner said: why, and the failing output. */
  regressionContext: { reason: string; failingOutput?: string };
  error?: { code: string; message: string };
  /** Artifacts of its successful visit, by output name → artifact id. */
  artifacts?: Record<string, string>;
  /** The step attempt whose result it took. */
  attemptId?: string;
}

/** The compiled template's facts the guards need (copied into the context at creation). */
export interface RunLimits {
  maxParallel: number;
  failFast: boolean;
  maxSpawnDepth: number;
  maxStepsPerRun: number;
  /** 0 = no failure budget. */
  maxFailedAttempts: number;
}

export interface PipelineContext {
  runId: string;
  tenantId: string;
  template: { name: string; version: number };
  limits: RunLimits;
  steps: Record<string, StepState>;
  spawned: SpawnedStep[];
  /** Failed step attempts of this run so far (retries included): the failure budget's count. */
  failedAttempts: number;
  /** Why the run is quarantined / failed, when it is. */
  error: { code: string; message: string } | null;
}

export interface PipelineInput {
  runId: string;
  tenantId: string;
  template: { name: string; version: number };
  limits: RunLimits;
  stepIds: string[];
}

/** Events of the pipeline statechart. `step` is a template step id or a spawned step id. */
export type PipelineEvent =
  | { type: 'START' }
  /** `attempt`: the step attempt's id whose result this is (recorded as the visit's). */
  | { type: 'STEP_SUCCEEDED'; step: string; visit: number; attempt?: string; artifacts?: Record<string, string> }
  /** A step's last attempt failed (`attempts` = failed attempts of this visit). `quarantine`: a quarantine-class error. */
  | { type: 'STEP_FAILED'; step: string; visit: number; attempts: number; code: string; message: string; quarantine?: boolean }
  /** One attempt failed and the step will be retried: counts for the failure budget only. */
  | { type: 'STEP_ATTEMPT_FAILED'; step: string; visit: number; code: string; message: string; quarantine?: boolean }
  /** A running step asks for `spawn` (a template step id) to run first, then runs again. */
  | { type: 'STEP_SPAWNED'; step: string; visit: number; spawn: string; reason: string; failingOutput?: string }
  | { type: 'CANCEL'; reason?: string }
  | { type: 'RELEASE' }
  | { type: 'RETRY_STEP'; step: string };

export type PipelineEventType = PipelineEvent['type'];
/** Events a person (REST) may send. */
export const EXTERNAL_PIPELINE_EVENTS: readonly PipelineEventType[] = ['CANCEL', 'RELEASE', 'RETRY_STEP'];

/** A dependency as the guards read it. */
export interface CompiledNeed {
  step: string;
  on: NeedCondition;
}
