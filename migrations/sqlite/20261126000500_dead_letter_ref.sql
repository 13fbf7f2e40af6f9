-- Dead letters are looked up by what they are about (an action, a run, a delivery): the
-- retry of an action and the replay of a letter read them by ref_id.
CREATE INDEX dead_letters_ref ON dead_letters (ref_id);
