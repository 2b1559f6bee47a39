-- An application id names one application user (the token endpoint looks users up by it).
CREATE UNIQUE INDEX crm_systemuser_applicationid ON crm_systemuser (applicationid);
