"""Pydantic models of a data pipeline's ``pipeline-content.json``.

The file is the pipeline part of a Fabric item definition (the same JSON that Fabric's git
integration writes next to ``.platform``)::

    {"properties": {"activities": [...], "parameters": {...}, "variables": {...}, ...}}

Every model allows extra fields: Fabric keeps adding activity types and settings, and a user's
definition that the service accepts must never be rejected here only because this module has not
heard of a field yet. What *is* checked is the shape that the rest of the package relies on
(activity names, dependencies, policies, parameter and variable declarations).

Attributes are snake_case; the JSON keys are the camelCase aliases (``dependsOn``,
``typeProperties``...). Validation reports locations by alias, so error paths read like the file.

Container activities (IfCondition, ForEach, Until, Switch) keep their inner activities inside
``typeProperties`` as raw dicts; :mod:`fabric_resources.activities` says where those lists live
(re-exported here) and :mod:`fabric_resources.definitions` validates them scope by scope.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator
from pydantic.alias_generators import to_camel

from fabric_resources.activities import CONTAINER_ACTIVITY_KEYS, nested_activity_lists

__all__ = [
    "CONTAINER_ACTIVITY_KEYS",
    "COUNT_OR_EXPRESSION_PROPERTIES",
    "DEPENDENCY_CONDITIONS",
    "Activity",
    "ActivityDependency",
    "ActivityPolicy",
    "ExternalReferences",
    "ParameterSpec",
    "PipelineContent",
    "PipelineFolder",
    "PipelineProperties",
    "VariableSpec",
    "is_expression",
    "nested_activity_lists",
]

DependencyCondition = Literal["Succeeded", "Failed", "Skipped", "Completed"]
DEPENDENCY_CONDITIONS: tuple[str, ...] = ("Succeeded", "Failed", "Skipped", "Completed")

#: Canonical spelling of each parameter type, keyed by its lower-case form. Fabric's editor writes
#: lower-case types ("string", "int") while ADF-style exports capitalise them; both are accepted.
PARAMETER_TYPES: dict[str, str] = {
    t.lower(): t for t in ("String", "Int", "Float", "Bool", "Array", "Object", "SecureString")
}
VARIABLE_TYPES: dict[str, str] = {t.lower(): t for t in ("String", "Boolean", "Array", "Integer")}

class _Model(BaseModel):
    # extra="allow": unknown fields are legal (see the module docstring).
    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)


class ActivityDependency(_Model):
    activity: str = Field(min_length=1)
    dependency_conditions: list[DependencyCondition] = Field(min_length=1)


def is_expression(value: Any) -> bool:
    """Whether ``value`` is a Data Factory expression object: ``{"value": "@...", "type": "Expression"}``."""
    return isinstance(value, dict) and value.get("type") == "Expression" and isinstance(value.get("value"), str)


_EXPRESSION_HINT = 'an expression object such as {"value": "@pipeline().parameters.name", "type": "Expression"}'


def _count_or_expression(value: Any) -> Any:
    # Data Factory types these fields "integer (or Expression with resultType integer)".
    if is_expression(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"must be 0 or more (or {_EXPRESSION_HINT}), not {value}")
        return value
    raise ValueError(f"must be a whole number of 0 or more, or {_EXPRESSION_HINT}; got {value!r}")


def _text_or_expression(value: Any) -> Any:
    if is_expression(value) or isinstance(value, str):
        return value
    raise ValueError(f'must be a string such as "0.12:00:00", or {_EXPRESSION_HINT}; got {value!r}')


#: A count the service also takes as an expression evaluated at run time.
CountOrExpression = Annotated[Any, PlainValidator(_count_or_expression)]
#: A string (a timeout such as "0.12:00:00") the service also takes as an expression.
TextOrExpression = Annotated[Any, PlainValidator(_text_or_expression)]

#: typeProperties fields checked per activity type (Data Factory's "integer or Expression" fields).
COUNT_OR_EXPRESSION_PROPERTIES: dict[str, tuple[str, ...]] = {
    "Wait": ("waitTimeInSeconds",),
    "ForEach": ("batchCount",),
}


class ActivityPolicy(_Model):
    """Retry and timeout settings; the service default is 12 hours, no retries, 30 s interval."""

    timeout: TextOrExpression | None = None
    retry: CountOrExpression | None = None
    retry_interval_in_seconds: int | None = Field(default=None, ge=0)
    secure_input: bool | None = None
    secure_output: bool | None = None


class ExternalReferences(_Model):
    connection: str | None = None


class Activity(_Model):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    description: str | None = None
    type_properties: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[ActivityDependency] = Field(default_factory=list)
    policy: ActivityPolicy | None = None
    # Fabric writes "Inactive"; older exports (and the public docs) spell it "InActive".
    state: Literal["Active", "Inactive", "InActive"] | None = None
    on_inactive_mark_as: Literal["Succeeded", "Failed", "Skipped"] | None = None
    external_references: ExternalReferences | None = None
    user_properties: list[Any] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("activity names must not be blank")
        return value

    @model_validator(mode="after")
    def _counts_or_expressions(self) -> Activity:
        for key in COUNT_OR_EXPRESSION_PROPERTIES.get(self.type, ()):
            if key in self.type_properties and self.type_properties[key] is not None:
                try:
                    _count_or_expression(self.type_properties[key])
                except ValueError as exc:
                    raise ValueError(f"typeProperties.{key} {exc}") from None
        return self


def _type_matches(declared: str, value: Any) -> bool:
    """Whether a JSON default value fits a declared parameter/variable type."""
    kind = declared.lower()
    if kind in ("string", "securestring"):
        return isinstance(value, str)
    if kind in ("int", "integer"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("bool", "boolean"):
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _check_default(declared: str, value: Any) -> None:
    # null means "no default" in exports, whatever the type.
    if value is not None and not _type_matches(declared, value):
        raise ValueError(
            f"defaultValue {value!r} is not of type {declared}; change the default or the declared type"
        )


class _Declared(_Model):
    """A declared parameter or variable: a known type and a default of that type."""

    KIND: ClassVar[str]
    TYPES: ClassVar[dict[str, str]]

    type: str
    default_value: Any = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value.lower() not in cls.TYPES:
            raise ValueError(f"unknown {cls.KIND} type {value!r}; use one of {', '.join(cls.TYPES.values())}")
        return value

    @model_validator(mode="after")
    def _default_fits(self) -> _Declared:
        _check_default(self.type, self.default_value)
        return self


class ParameterSpec(_Declared):
    KIND = "parameter"
    TYPES = PARAMETER_TYPES


class VariableSpec(_Declared):
    KIND = "variable"
    TYPES = VARIABLE_TYPES


class PipelineFolder(_Model):
    name: str


class PipelineProperties(_Model):
    activities: list[Activity] = Field(default_factory=list)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    annotations: list[Any] = Field(default_factory=list)
    description: str | None = None
    concurrency: int | None = Field(default=None, ge=1)
    folder: PipelineFolder | None = None
    last_modified_by_object_id: str | None = None
    last_publish_time: str | None = None


class PipelineContent(_Model):
    name: str | None = None
    object_id: str | None = None
    properties: PipelineProperties
