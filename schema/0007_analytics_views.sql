-- placeholder: filled in by its issue before release

-- migrate:up

-- migrate:down
