"""PipelineSchedule: a job schedule of a data pipeline (Cron | Daily | Weekly | Monthly).

`configuration` takes the API's own shape (camelCase dict) or a `fabric_resources.models` schedule
config object. It is stored exactly as written (camelCase, unset fields left out), which is also how
Fabric echoes it back, so the time zone and the spelling of times survive a round trip and a refresh
compares like with like. Moving a schedule to another pipeline or workspace replaces it.
"""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar, Literal

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, TypeAdapter

from fabric_resources.models import ScheduleConfig
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    InputsModel,
    allow_not_found,
    contains_unknown,
    holds_outputs,
    lower_id,
    read_outputs,
    translate_errors,
)
from fabric_resources.scheduling import ScheduleValidationError, validate_configuration

__all__ = ["PipelineSchedule", "PipelineScheduleProvider"]

_CONFIG_ADAPTER: TypeAdapter[Any] = TypeAdapter(ScheduleConfig)

# Schedule ids created or taken over by this provider process, i.e. in this deployment: a second
# resource never takes over one of them, and deleting a resource (the old name of one renamed
# without an alias) leaves alone a schedule another resource has just taken over.
_CLAIMED: set[str] = set()
_CLAIMED_LOCK = threading.Lock()

# Settings declared by the program in this run, (pipeline, job type, enabled, configuration) ->
# resource name: two resources with identical settings on one pipeline could not be told apart by a
# re-run. Kept per run (an Automation API process runs many), the run known by its monitor object.
_DECLARED: dict[tuple[str, str, bool, str], str] = {}
_DECLARED_RUN: list[Any] = [None]
_DECLARED_LOCK = threading.Lock()


def _claim(schedule_id: str) -> bool:
    """Mark a schedule as held by a resource of this deployment; False if another already holds it."""
    with _CLAIMED_LOCK:
        if schedule_id.lower() in _CLAIMED:
            return False
        _CLAIMED.add(schedule_id.lower())
        return True


def normalize_configuration(value: Any) -> Any:
    """The API dict of a configuration (camelCase, None fields dropped); non-configs pass through."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, dict):
        try:
            model = _CONFIG_ADAPTER.validate_python(value)
        except ValueError:
            return value
        result: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return result
    return value


def configuration_problem(configuration: Any) -> ScheduleValidationError | None:
    """What Fabric would refuse in a fully known configuration (API dict or model), or None.

    The rules are the ones the emulator applies (fabric_resources.scheduling): time zone ids from
    one Windows table, "HH:MM" times, weekday names, Monthly occurrences, start before end, bounds.
    """
    config = normalize_configuration(configuration)
    try:
        validate_configuration(config)
    except ScheduleValidationError as exc:
        return exc
    return None


class PipelineScheduleProvider(FabricProvider):
    kind = "PipelineSchedule"
    inputs_model = InputsModel("PipelineScheduleArgs")
    replace_on = ("workspace_id", "pipeline_id", "job_type")
    compared = ("enabled", "configuration")
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "pipeline_id": lower_id,
        "configuration": normalize_configuration,
    }

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        config = inputs.get("configuration")
        if not isinstance(config, dict) or contains_unknown(config):
            return []
        problem = configuration_problem(config)
        if problem is None:
            return []
        return [CheckFailure("configuration",
                             f"PipelineSchedule: invalid 'configuration': {problem.field}: {problem.message}")]

    @staticmethod
    def _owner(props: dict[str, Any]) -> tuple[str, str, str]:
        """(workspace id, pipeline id, job type) of the schedule; the job type defaults to Pipeline."""
        return props["workspace_id"], props["pipeline_id"], props.get("job_type") or "Pipeline"

    @classmethod
    def _outputs(cls, props: dict[str, Any], schedule: Any) -> dict[str, Any]:
        ws_id, item_id, job_type = cls._owner(props)
        return {
            "workspace_id": ws_id,
            "pipeline_id": item_id,
            "job_type": job_type,
            "enabled": bool(schedule.enabled),
            "configuration": normalize_configuration(schedule.configuration),
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    @staticmethod
    def _config_model(value: Any) -> Any:
        return _CONFIG_ADAPTER.validate_python(value)

    def _matching(self, props: dict[str, Any]) -> list[Any]:
        """Live schedules of the pipeline (same job type) already in the declared state.

        Schedules have no name, so a create that reached Fabric but never made it into the state
        (an interrupted `up`) can only be recognised by its content: `enabled` and the configuration
        in the normalised form `diff` compares.
        """
        ws_id, item_id, job_type = self._owner(props)
        enabled = bool(props["enabled"])
        wanted = normalize_configuration(props["configuration"])
        return [live for live in self.client.schedules.list(ws_id, item_id, job_type=job_type)
                if bool(live.enabled) == enabled and normalize_configuration(live.configuration) == wanted]

    def _ours(self, props: dict[str, Any]) -> Any:
        """The live schedule this resource may take over without being told to, or None.

        Ours means: on the declared pipeline, exactly the declared settings, owned by the deploying
        principal (a schedule someone made in the portal has that person as owner), and not held by
        another resource of this deployment (the program refuses two resources with identical
        settings on one pipeline, and _CLAIMED covers the rest). With adopt_existing any matching
        schedule qualifies, whoever owns it.
        """
        me = self.client.caller_object_id()
        for live in self._matching(props):
            owner = lower_id(live.owner.id) if live.owner is not None else None
            if (props.get("adopt_existing") or (me is not None and owner == me)) and _claim(live.id):
                return live
        return None

    def create(self, props: dict[str, Any]) -> CreateResult:
        ws_id, item_id, job_type = self._owner(props)
        with translate_errors(f"creating a {job_type} schedule on pipeline {item_id}"):
            existing = self._ours(props)
            if existing is not None:
                # Without this, a re-run after an interrupted `up` would add a second schedule and the
                # pipeline would run twice at every trigger.
                pulumi.log.info(
                    f"schedule {existing.id} on pipeline {item_id} has exactly the declared settings and is owned by "
                    "this deployer: an earlier deployment created it without recording it; taking it over"
                )
                return CreateResult(existing.id, self._outputs(props, existing))
            schedule = self.client.schedules.create(
                ws_id,
                item_id,
                job_type=job_type,
                enabled=bool(props["enabled"]),
                configuration=self._config_model(props["configuration"]),
            )
        _claim(schedule.id)
        return CreateResult(schedule.id, self._outputs(props, schedule))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws_id, item_id, job_type = self._owner(props)
        return read_outputs(id_, f"reading schedule {id_} of pipeline {item_id}",
                            lambda: self.client.schedules.get(ws_id, item_id, id_, job_type=job_type),
                            lambda schedule: self._outputs(props, schedule))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ws_id, item_id, job_type = self._owner(news)
        with translate_errors(f"updating schedule {id_} of pipeline {item_id}"):
            schedule = self.client.schedules.update(
                ws_id,
                item_id,
                id_,
                job_type=job_type,
                enabled=bool(news["enabled"]),
                configuration=self._config_model(news["configuration"]),
            )
        return UpdateResult(self._outputs(news, schedule))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id, item_id, job_type = self._owner(props)
        with _CLAIMED_LOCK:
            if id_.lower() in _CLAIMED:
                # Taken over by another resource earlier in this deployment (this one was renamed
                # without an alias): deleting it would delete that resource's schedule.
                pulumi.log.info(f"schedule {id_} is now held by another resource of this stack; not deleting it")
                return
        allow_not_found(f"deleting schedule {id_} of pipeline {item_id}",
                        lambda: self.client.schedules.delete(ws_id, item_id, id_, job_type=job_type))


_PROVIDER = PipelineScheduleProvider()

ScheduleType = Literal["Cron", "Daily", "Weekly", "Monthly"]


class PipelineSchedule(Resource, module="fabric", name="PipelineSchedule"):
    """A schedule that runs a pipeline. The resource id is the schedule id."""

    workspace_id: pulumi.Output[str]
    pipeline_id: pulumi.Output[str]
    job_type: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    configuration: pulumi.Output[dict[str, Any]]
    adopt_existing: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        pipeline_id: pulumi.Input[str],
        enabled: pulumi.Input[bool],
        configuration: pulumi.Input[dict[str, Any]] | BaseModel,
        opts: pulumi.ResourceOptions | None = None,
        *,
        job_type: str = "Pipeline",
        adopt_existing: bool = False,
    ) -> None:
        if isinstance(configuration, BaseModel):
            configuration = normalize_configuration(configuration)
        if not holds_outputs(configuration):
            # Refused in the program, before the engine registers anything: a preview that fails
            # here has made no API call at all. (With deploy-time values, `check` refuses it.)
            problem = configuration_problem(configuration)
            if problem is not None:
                raise ScheduleValidationError(problem.field, problem.message,
                                              subject=f"PipelineSchedule '{resource_name}'")

        def unique(values: list[Any]) -> Any:
            pipeline, on, config = values
            key = (lower_id(str(pipeline)), job_type, bool(on),
                   json.dumps(normalize_configuration(config), sort_keys=True))
            run = pulumi.runtime.settings.get_monitor()
            with _DECLARED_LOCK:
                if _DECLARED_RUN[0] is not run:
                    _DECLARED.clear()
                    _DECLARED_RUN[0] = run  # holding it keeps its identity from being reused
                other = _DECLARED.setdefault(key, resource_name)
            if other != resource_name:
                raise FabricProviderError(
                    f"PipelineSchedule '{resource_name}' declares the same settings as '{other}' on pipeline "
                    f"{pipeline}: the pipeline would run twice at every trigger; declare one schedule"
                )
            return pipeline

        # The pipeline id reaches the engine only through this check, so a duplicate is never created.
        checked_pipeline = pulumi.Output.all(pipeline_id, enabled, configuration).apply(unique)
        props = {
            "workspace_id": workspace_id,
            "pipeline_id": checked_pipeline,
            "job_type": job_type,
            "enabled": enabled,
            "configuration": configuration,
            "adopt_existing": adopt_existing,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
