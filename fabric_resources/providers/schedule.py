"""PipelineSchedule: a job schedule of a data pipeline (Cron | Daily | Weekly | Monthly).

`configuration` takes the API's own shape (camelCase dict) or a `fabric_resources.models` schedule
config object. It is stored exactly as written (camelCase, unset fields left out), which is also how
Fabric echoes it back, so the time zone and the spelling of times survive a round trip and a refresh
compares like with like. Moving a schedule to another pipeline or workspace replaces it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from fabric_resources.models import ScheduleConfig
from fabric_resources.models.common import Guid
from fabric_resources.providers._base import FabricProvider, allow_not_found, lower_id, translate_errors

__all__ = ["PipelineSchedule", "PipelineScheduleArgs", "PipelineScheduleProvider"]

_CONFIG_ADAPTER: TypeAdapter[Any] = TypeAdapter(ScheduleConfig)


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


class PipelineScheduleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_id: Guid
    pipeline_id: Guid
    job_type: Annotated[str, Field(min_length=1, max_length=64)] = "Pipeline"
    enabled: bool
    configuration: ScheduleConfig


class PipelineScheduleProvider(FabricProvider):
    kind = "PipelineSchedule"
    inputs_model = PipelineScheduleArgs
    replace_on = ("workspace_id", "pipeline_id", "job_type")
    compared = ("enabled", "configuration")
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "pipeline_id": lower_id,
        "configuration": normalize_configuration,
    }

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
        }

    @staticmethod
    def _config_model(value: Any) -> Any:
        return _CONFIG_ADAPTER.validate_python(value)

    def _matching(self, props: dict[str, Any]) -> Any:
        """A live schedule of the pipeline (same job type) already in the declared state, or None.

        Schedules have no name, so a create that reached Fabric but never made it into the state
        (an interrupted `up`) can only be recognised by its content: `enabled` and the configuration
        in the normalised form `diff` compares.
        """
        ws_id, item_id, job_type = self._owner(props)
        enabled = bool(props["enabled"])
        wanted = normalize_configuration(props["configuration"])
        for live in self.client.schedules.list(ws_id, item_id, job_type=job_type):
            if bool(live.enabled) == enabled and normalize_configuration(live.configuration) == wanted:
                return live
        return None

    def create(self, props: dict[str, Any]) -> CreateResult:
        ws_id, item_id, job_type = self._owner(props)
        with translate_errors(f"creating a {job_type} schedule on pipeline {item_id}"):
            # Take over an identical schedule instead of adding a duplicate that would run the
            # pipeline twice. (Two resources declaring identical schedules on one pipeline would
            # therefore share one; such a pair runs the pipeline twice at the same time anyway.)
            existing = self._matching(props)
            if existing is not None:
                return CreateResult(existing.id, self._outputs(props, existing))
            schedule = self.client.schedules.create(
                ws_id,
                item_id,
                job_type=job_type,
                enabled=bool(props["enabled"]),
                configuration=self._config_model(props["configuration"]),
            )
        return CreateResult(schedule.id, self._outputs(props, schedule))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws_id, item_id, job_type = self._owner(props)
        schedule = allow_not_found(f"reading schedule {id_} of pipeline {item_id}",
                                   lambda: self.client.schedules.get(ws_id, item_id, id_, job_type=job_type))
        if schedule is None:
            return ReadResult("", {})
        outs = self._outputs(props, schedule)
        return ReadResult(id_, outs, dict(outs))

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
    ) -> None:
        if isinstance(configuration, BaseModel):
            configuration = normalize_configuration(configuration)
        props = {
            "workspace_id": workspace_id,
            "pipeline_id": pipeline_id,
            "job_type": job_type,
            "enabled": enabled,
            "configuration": configuration,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
